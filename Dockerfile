# The Tierflow worker image (used by docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tierflow ./tierflow
# With the otel extra, so that TIERFLOW_TRACING works in the stack.
RUN pip install --no-cache-dir '.[otel]'
USER nobody
CMD ["tierflow", "worker"]

# The Tierflow worker image (used by docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY statemachine ./statemachine
COPY workflows ./workflows
COPY activities ./activities
# tierflow/ links the three folders above into the package; pip builds one `tierflow` package.
COPY tierflow ./tierflow
RUN pip install --no-cache-dir .
USER nobody
CMD ["tierflow", "worker"]

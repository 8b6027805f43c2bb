# The Tierflow worker image (used by docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY statemachine ./statemachine
COPY workflows ./workflows
COPY activities ./activities
COPY tierflow ./tierflow
COPY benchmarks ./benchmarks
COPY worker.py ./
RUN pip install --no-cache-dir .
USER nobody
CMD ["python", "worker.py"]

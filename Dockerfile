# indexflow image: the API, the CLI and the workers (choose with the command).
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
WORKDIR /app
# torch is pinned and installed first. For a CPU-only image, pass the CPU wheel index of PyTorch:
#   docker build --build-arg TORCH_INDEX="--index-url <pytorch cpu wheel index>" .
ARG TORCH_INDEX=""
RUN pip install ${TORCH_INDEX} "torch==2.13.0"
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install .
RUN useradd --create-home indexflow
USER indexflow
ENTRYPOINT ["indexflow"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]

# Unlearning Workbench: the Streamlit dashboard on CPU, as a hosted demo by default.
# Build: docker build -t unlearning-workbench .          (full, uncapped: --build-arg DEMO=0)
# Run:   docker run -p 8501:8501 unlearning-workbench
# Show precomputed (e.g. GPU) results: put a bundle from `python -m engine bundle export --out bundle.zip`
# at bundles/demo.zip before building; the dashboard imports it at start-up (validated, never recomputed).
FROM python:3.11-slim

ARG DEMO=1

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    UNLEARN_CACHE_DIR=/home/app/cache \
    UNLEARN_DATA_DIR=/home/app/data \
    UNLEARN_DEMO=${DEMO} \
    UNLEARN_BUNDLE=/home/app/workbench/bundles/demo.zip

RUN useradd --create-home --uid 1000 app
WORKDIR /home/app/workbench

# CPU wheels of the pinned torch/torchvision keep the image small; the rest from requirements.txt
COPY requirements.txt .
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.14.1 torchvision==0.29.1 \
    && grep -v -E '^(torch|torchvision)==' requirements.txt > /tmp/requirements-rest.txt \
    && pip install -r /tmp/requirements-rest.txt

COPY --chown=app:app engine ./engine
COPY --chown=app:app dashboard ./dashboard
COPY --chown=app:app .streamlit ./.streamlit
COPY --chown=app:app bundles ./bundles

USER 1000
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://localhost:8501/_stcore/health').read() != b'ok')"]
ENTRYPOINT ["streamlit", "run", "dashboard/app.py", "--server.port=8501", "--server.address=0.0.0.0", \
            "--server.headless=true", "--server.fileWatcherType=none"]

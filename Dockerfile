FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 SOMO_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY core core
COPY channels channels
COPY conversation conversation
COPY modes modes
COPY rag rag
COPY gateway gateway
COPY admin admin
COPY locales locales
COPY migrations migrations
# Editable, so core/i18n.py and core/migrate.py find locales/, migrations/ and alembic.ini beside the code.
RUN pip install --no-cache-dir -e . && mkdir -p /data && useradd --system --uid 999 somo && chown somo /data
USER somo
# 8000: the API (/metrics merges its uvicorn workers); 9101: a worker's own /metrics (somo worker --metrics-port)
EXPOSE 8000 9101
CMD ["somo", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]

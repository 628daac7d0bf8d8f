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
RUN pip install --no-cache-dir . && mkdir -p /data && useradd --system somo && chown somo /data
USER somo
EXPOSE 8000
CMD ["somo", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]

# Brygga service image: the same code and pins as development, against an external PostgreSQL.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libmagic1 && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /srv/brygga brygga
WORKDIR /srv/brygga
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY crypto crypto
COPY policies policies
COPY service service
COPY migrations migrations
USER brygga
# No BRYGGA_DEV: without BRYGGA_JWKS and BRYGGA_KEYRING the image stops at start-up, naming the setting,
# rather than make development keys that anyone reaching the port could sign in with.
ENV BRYGGA_HOST=0.0.0.0 BRYGGA_PORT=8080 BRYGGA_DATA_DIR=/srv/brygga/var
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2).status != 200)"
CMD ["python", "-m", "service", "serve"]

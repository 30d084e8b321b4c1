# Build:  docker build -t bouncer .
# Run:    docker run -v /etc/bouncer:/etc/bouncer:ro --env-file bouncer.env bouncer
FROM python:3.11-slim AS build
# a C compiler for the compiled analysis engine (setup.py); the final image needs none
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py constraints.txt README.md ./
COPY bouncer ./bouncer
RUN python -m venv /opt/bouncer \
 && BOUNCER_COMPILE=1 /opt/bouncer/bin/pip install --no-cache-dir -c constraints.txt .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/bouncer --create-home bouncer
COPY --from=build /opt/bouncer /opt/bouncer
ENV PATH=/opt/bouncer/bin:$PATH \
    BOUNCER_CONFIG=/etc/bouncer/bouncer.yaml \
    PYTHONUNBUFFERED=1
USER bouncer
WORKDIR /var/lib/bouncer
ENTRYPOINT ["bouncer"]
CMD ["run"]

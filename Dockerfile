# deckhand in a container: `docker build -t deckhand . && docker run --rm -it --init deckhand console`
# In Slack: `docker run -d --init -e SLACK_BOT_TOKEN -e SLACK_APP_TOKEN -v $PWD/config:/app/config
# -v deckhand:/data deckhand serve`, the mounted config having a `[slack]` table (README "Slack");
# Discord alike with `-e DISCORD_TOKEN -e DISCORD_APPLICATION_ID -e DISCORD_GUILD_ID` and
# `[discord]`, GitHub with `-e GITHUB_TOKEN`. Docker secrets work too: `-e
# SLACK_BOT_TOKEN_FILE=/run/secrets/slack_bot_token` (any secret's `<NAME>_FILE`).
# Over the Events API instead: `-e SLACK_SIGNING_SECRET` (no app token), `-p 8080:8080`, and
# `[http] listen = "0.0.0.0:8080"` in the config, behind an HTTPS proxy.
# `--init` reaps the processes a step leaves behind (deckhand is not an init). `docker stop`
# sends SIGTERM: deckhand lets running deploys finish within [bot] shutdown_grace (30s), so give
# it more than that: `docker stop -t 45` (docs/reliability.md).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin deckhand

FROM debian:bookworm-slim
# ca-certificates: HTTPS health checks, Slack, Discord and GitHub;
# openssh-client: the SSH executor drives the system `ssh`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates openssh-client \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/target/release/deckhand /usr/local/bin/deckhand
COPY config ./config
COPY deploy.d ./deploy.d
ENV DECKHAND_DATA=/data
VOLUME /data
ENTRYPOINT ["deckhand"]
CMD ["console"]

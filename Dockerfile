# The edgemark image for machines with Docker, Podman or buildah:
#   v=$(node -p "require('./package.json').version")
#   docker build --build-arg EDGEMARK_VERSION=$v -t localhost/edgemark:$v .
# `edgemark image build` makes the same image without a daemon or a registry,
# and is the path this project tests (see README, "The image").

# Build: compile better-sqlite3 from source (no prebuilt download), then the TypeScript.
FROM node:20-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
ENV npm_config_build_from_source=true
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
RUN npm run build && npm prune --omit=dev

# Run: node, the production node_modules, the compiled code and the data it reads.
FROM node:20-bookworm-slim
ARG EDGEMARK_VERSION=unknown
LABEL org.opencontainers.image.title=edgemark org.opencontainers.image.version=$EDGEMARK_VERSION
RUN groupadd --gid 65532 edgemark \
 && useradd --uid 65532 --gid 65532 --home-dir /home/edgemark --create-home --shell /usr/sbin/nologin edgemark
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY stages ./stages
COPY profiles ./profiles
ENV NODE_ENV=production
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/node", "/app/dist/src/cli/main.js"]

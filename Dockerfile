# modvault: a self-hosted Go module proxy.
#
#   docker build -t modvault --build-arg VERSION=$(git describe --always) .
#   docker run --init -p 3000:3000 -v modvault:/var/lib/modvault -e GOPROXY=… modvault
#
# The runtime image keeps the go command and git: modvault runs them to fetch
# private modules (and the "direct" upstream entry) from version control.
# tini is PID 1, so that processes orphaned by a killed git are reaped.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/modvault ./cmd/modvault

FROM golang:1.26-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/modvault --uid 10001 modvault
COPY --from=build /out/modvault /usr/local/bin/modvault
USER modvault
WORKDIR /var/lib/modvault
# The embedded disk store by default; set MODVAULT_STORAGE=s3://… (gs://,
# azblob://) for a bucket shared by several replicas.
ENV MODVAULT_STORAGE=file:///var/lib/modvault/store \
    MODVAULT_TEMP_DIR=/tmp \
    MODVAULT_LOG_FORMAT=json
VOLUME /var/lib/modvault
EXPOSE 3000
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/modvault"]
CMD ["serve"]

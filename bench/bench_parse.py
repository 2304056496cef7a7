"""Parse throughput: lines/s for a generated 10,000-line Dockerfile.

Run: .venv/bin/python bench/bench_parse.py [LINES]
Prints figures for the syntactic parse, the typed parse, resolve (ARG scoping
and expansion) and lint, each the best of a few runs.
"""

from __future__ import annotations

import sys
import time

from wharfie.dockerfile import parse, parse_dockerfile, resolve
from wharfie.dockerfile.lint import lint

BLOCK = """\
FROM debian:12-slim AS stage{n}
ARG VERSION=1.{n}
ENV APP_HOME=/opt/app{n} PATH=/opt/app{n}/bin:$PATH
LABEL org.opencontainers.image.version="${{VERSION}}" stage="{n}"
WORKDIR $APP_HOME
# install build tools for stage {n}
RUN apt-get update \\
    && apt-get install -y --no-install-recommends ca-certificates curl \\
    && rm -rf /var/lib/apt/lists/*
COPY --chown=1000:1000 --chmod=0755 requirements.txt ./
RUN --mount=type=cache,target=/root/.cache pip install -r requirements.txt
COPY <<EOF /etc/app{n}.conf
version=${{VERSION}}
home=$APP_HOME
EOF
EXPOSE {port}/tcp
HEALTHCHECK --interval=30s --timeout=3s CMD ["curl", "-f", "http://localhost/"]
USER 1000:1000
CMD ["python", "-m", "app", "--port", "{port}"]

"""


def generate(lines: int) -> str:
    """About ``lines`` lines of realistic multi-stage Dockerfile, cut at a block boundary."""
    out: list[str] = []
    total = n = 0
    while total < lines:
        block = BLOCK.format(n=n, port=8000 + n % 1000)
        out.append(block)
        total += block.count("\n")
        n += 1
    return "".join(out)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    text = generate(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
    n = text.count("\n")
    df = parse_dockerfile(text)
    print(f"Dockerfile: {n} lines, {len(df.stages)} stages, "
          f"{sum(len(s.instructions) for s in df.stages)} instructions")
    for name, fn, repeat in [("parse (AST)", lambda: parse(text), 5),
                             ("parse_dockerfile (typed)", lambda: parse_dockerfile(text), 3),
                             ("resolve all stages (expansion)", lambda: resolve(df, all_stages=True), 3),
                             ("lint (all rules)", lambda: lint(text), 1)]:
        secs = best(fn, repeat)
        print(f"{name:32s} {secs * 1000:9.1f} ms {n / secs:12,.0f} lines/s")


if __name__ == "__main__":
    main()

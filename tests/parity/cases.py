"""The parity cases: each a small Dockerfile covering one rule of COPY, ADD, WORKDIR,
USER, ARG, .dockerignore, RUN mounts or the image config, with its context.

A context maps a path to its content: ``str``/``bytes`` a file, ``File(data, mode)`` a
file with a mode, ``DIR`` an empty directory, ``Link(target)`` a symlink, ``Tar(...)`` a
tar archive made of such entries (``mode``, ``uid``, ``gid`` and ``link``/``hard`` per
member), ``.dockerignore`` the ignore file. Written by hand for wharfie, from docker's
documentation and BuildKit's source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BASE = "busybox:local"


@dataclass(frozen=True)
class File:
    data: str | bytes
    mode: int = 0o644


@dataclass(frozen=True)
class Link:
    target: str


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes = b""
    kind: str = "file"  # file, dir, symlink, hardlink
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    link: str = ""


@dataclass(frozen=True)
class Tar:
    members: tuple[Member, ...]
    compression: str = ""  # "", gz, bz2, xz


DIR = "<dir>"


@dataclass
class Case:
    name: str
    dockerfile: str
    context: dict = field(default_factory=dict)
    build_args: dict = field(default_factory=dict)
    target: str | None = None
    secrets: dict = field(default_factory=dict)  # id -> value, given as --secret id=,src=


def df(*lines: str) -> str:
    return "\n".join(lines) + "\n"


TXT = {"a.txt": "a\n", "b.txt": "bee\n", "sub/c.txt": "c\n", "sub/deep/d.txt": "d\n"}
TAR = Tar((Member("d/", kind="dir", mode=0o775), Member("d/f", b"f\n", mode=0o4755),
           Member("d/g", b"g\n", mode=0o600, uid=1000, gid=1000),
           Member("top.txt", b"top\n")))

CASES: list[Case] = []


def case(name: str, dockerfile: str, context: dict | None = None, **kw) -> None:
    CASES.append(Case(name, dockerfile, dict(context or {}), **kw))


# -- FROM and the config ----------------------------------------------------------------
case("scratch-copy", df("FROM scratch", "COPY a.txt /a.txt"), TXT)
case("base-only", df(f"FROM {BASE}"))
case("env-label", df(f"FROM {BASE}", "ENV A=1 B=\"two words\"", "LABEL x=y z=\"w v\""))
case("cmd-entrypoint", df(f"FROM {BASE}", 'ENTRYPOINT ["/bin/sh", "-c"]', "CMD echo hi"))
case("entrypoint-resets-cmd", df(f"FROM {BASE}", "ENTRYPOINT echo"))
case("expose-volume-stopsignal", df(f"FROM {BASE}", "EXPOSE 80 53/udp 8000-8002",
                                    "VOLUME /data /logs", "STOPSIGNAL SIGTERM"))
case("healthcheck", df(f"FROM {BASE}", "HEALTHCHECK --interval=5s --retries=2 CMD true"))
case("healthcheck-none", df(f"FROM {BASE}", "HEALTHCHECK NONE"))
case("shell", df(f"FROM {BASE}", 'SHELL ["/bin/sh", "-ec"]', "RUN echo $0 > /shell.txt"))
case("maintainer", df(f"FROM {BASE}", "MAINTAINER someone <a@b.c>"))
case("onbuild", df(f"FROM {BASE}", "ONBUILD RUN echo later"))
case("user-config", df(f"FROM {BASE}", "USER app"))
case("stage-chain", df(f"FROM {BASE} AS a", "ENV X=1", "FROM a", "ENV Y=2"))
case("target-stage", df(f"FROM {BASE} AS a", "RUN echo a > /a", "FROM a AS b",
                        "RUN echo b > /b"), target="a")

# -- WORKDIR ---------------------------------------------------------------------------
case("workdir-new", df(f"FROM {BASE}", "WORKDIR /w/x/y"))
case("workdir-trailing-slash", df(f"FROM {BASE}", "WORKDIR /tmp/"))
case("workdir-relative", df(f"FROM {BASE}", "WORKDIR /a", "WORKDIR b/../c", "WORKDIR d/"))
case("workdir-user-owns-parents", df(f"FROM {BASE}", "USER app", "WORKDIR /created/dir"))
case("workdir-uid-gid", df(f"FROM {BASE}", "USER 123:456", "WORKDIR /made/here"))
case("workdir-existing", df(f"FROM {BASE}", "USER app", "WORKDIR /tmp"))
case("workdir-root", df(f"FROM {BASE}", "WORKDIR /"))
case("workdir-env", df(f"FROM {BASE}", "ENV D=/from/env", "WORKDIR $D/sub"))
case("workdir-through-link", df(f"FROM {BASE}", "RUN ln -s /real /lnk", "WORKDIR /lnk/in"))
case("workdir-run-pwd", df(f"FROM {BASE}", "WORKDIR /p/q/", "RUN pwd > out"))
case("workdir-scratch", df("FROM scratch", "WORKDIR /w", "COPY a.txt ."), TXT)
case("workdir-copy-relative", df(f"FROM {BASE}", "WORKDIR /app", "COPY a.txt sub/"), TXT)
case("workdir-copy-dot", df(f"FROM {BASE}", "WORKDIR /app/", "COPY a.txt ."), TXT)

# -- USER ------------------------------------------------------------------------------
case("user-run-id", df(f"FROM {BASE}", "USER app", "RUN id > /tmp/id"))
case("user-uid-gid-run", df(f"FROM {BASE}", "USER 77:88", "RUN touch /tmp/mine"))
case("user-copy-stays-root", df(f"FROM {BASE}", "USER app", "COPY a.txt /a.txt"), TXT)
case("user-name-group", df(f"FROM {BASE}", "USER app:nogroup", "RUN touch /tmp/f"))
case("user-back-to-root", df(f"FROM {BASE}", "USER app", "USER root", "RUN touch /r"))

# -- COPY ------------------------------------------------------------------------------
case("copy-rename", df(f"FROM {BASE}", "COPY a.txt /renamed"), TXT)
case("copy-into-existing-dir", df(f"FROM {BASE}", "COPY a.txt /tmp"), TXT)
case("copy-into-new-dir", df(f"FROM {BASE}", "COPY a.txt /new/dir/"), TXT)
case("copy-dir-contents", df(f"FROM {BASE}", "COPY sub /dst"), TXT)
case("copy-dir-slashes", df(f"FROM {BASE}", "COPY sub/ /dst/"), TXT)
case("copy-dir-nested-new", df(f"FROM {BASE}", "COPY sub /x/y/z"), TXT)
case("copy-wildcard-dir", df(f"FROM {BASE}", "COPY *.txt /w/"), TXT)
case("copy-wildcard-onto-file", df(f"FROM {BASE}", "COPY *.txt /dst"), TXT)
case("copy-wildcard-one-match", df(f"FROM {BASE}", "COPY a*.txt /one"), TXT)
case("copy-wildcard-empty-beside", df(f"FROM {BASE}", "COPY a.txt nomatch* /dst/"), TXT)
case("copy-wildcard-only-empty", df(f"FROM {BASE}", "COPY nomatch* /dst/"), TXT)
case("copy-wildcard-component", df(f"FROM {BASE}", "COPY */deep/*.txt /out/"),
     {**TXT, "Beach.txt": "b"})
case("copy-wildcard-question", df(f"FROM {BASE}", "COPY ?.txt /q/"), TXT)
case("copy-wildcard-class", df(f"FROM {BASE}", "COPY [ab].txt /c/"), TXT)
case("copy-wildcard-dirs", df(f"FROM {BASE}", "COPY s* /s/"), {**TXT, "sx/e.txt": "e"})
case("copy-several", df(f"FROM {BASE}", "COPY a.txt b.txt /two/"), TXT)
case("copy-several-no-slash", df(f"FROM {BASE}", "COPY a.txt b.txt /two"), TXT)
case("copy-missing", df(f"FROM {BASE}", "COPY missing.txt /m"), TXT)
case("copy-missing-beside", df(f"FROM {BASE}", "COPY a.txt missing.txt /m/"), TXT)
case("copy-chown-numeric", df(f"FROM {BASE}", "COPY --chown=12:34 sub /o"), TXT)
case("copy-chown-name", df(f"FROM {BASE}", "COPY --chown=app a.txt /o/"), TXT)
case("copy-chown-names", df(f"FROM {BASE}", "COPY --chown=app:nogroup a.txt /o/"), TXT)
case("copy-chown-existing-dir", df(f"FROM {BASE}", "COPY sub/ /sub/",
                                   "COPY --chown=99:99 sub/ /sub/"), TXT)
case("copy-chown-parents", df(f"FROM {BASE}", "COPY --chown=5:6 a.txt /p/q/r/"), TXT)
case("copy-chown-dir-new-parents", df(f"FROM {BASE}", "COPY --chown=5:6 sub /n/m"), TXT)
case("copy-chmod", df(f"FROM {BASE}", "COPY --chmod=0755 a.txt /x"), TXT)
case("copy-chmod-dir", df(f"FROM {BASE}", "COPY --chmod=700 sub /x/"), TXT)
case("copy-modes-kept", df(f"FROM {BASE}", "COPY . /ctx/"),
     {"x.sh": File("#!/bin/sh\n", 0o755), "secret": File("s", 0o600),
      "suid": File("s", 0o4755), "priv/": DIR})
case("copy-symlink", df(f"FROM {BASE}", "COPY l /l"), {"a.txt": "a", "l": Link("a.txt")})
case("copy-symlink-followed-top", df(f"FROM {BASE}", "COPY l/ /ld/"),
     {"d/x": "x", "l": Link("d")})
case("copy-symlink-in-dir", df(f"FROM {BASE}", "COPY d /d"),
     {"d/x": "x", "d/l": Link("x"), "d/abs": Link("/etc/passwd")})
case("copy-empty-dir", df(f"FROM {BASE}", "COPY e /e"), {"e/": DIR})
case("copy-dir-onto-existing", df(f"FROM {BASE}", "RUN mkdir -p /t/sub && chmod 700 /t/sub",
                                  "COPY . /t/"), {"sub/f": "f"})
case("copy-overwrite-file", df(f"FROM {BASE}", "RUN echo old > /f && chmod 600 /f",
                               "COPY a.txt /f"), TXT)
case("copy-file-onto-dir", df(f"FROM {BASE}", "RUN mkdir /d", "COPY a.txt /d"), TXT)
case("copy-dir-onto-file", df(f"FROM {BASE}", "RUN touch /d", "COPY sub /d"), TXT)
case("copy-dest-dot-slash", df(f"FROM {BASE}", "WORKDIR /w", "COPY a.txt ./"), TXT)
case("copy-dest-slash-dot", df(f"FROM {BASE}", "COPY a.txt /n/."), TXT)
case("copy-src-dotdot", df(f"FROM {BASE}", "COPY sub/../a.txt /up"), TXT)
case("copy-src-absolute", df(f"FROM {BASE}", "COPY /a.txt /abs"), TXT)
case("copy-src-climbs", df(f"FROM {BASE}", "COPY ../../a.txt /climb"), TXT)
case("copy-dest-through-link", df(f"FROM {BASE}", "RUN mkdir /real && ln -s /real /lnk",
                                  "COPY a.txt /lnk/"), TXT)
case("copy-dest-dangling-dotdot", df(f"FROM {BASE}", "RUN ln -s /target/sub /link",
                                     "COPY a.txt /link/../"), TXT)
case("copy-dest-dangling-link", df(f"FROM {BASE}", "RUN ln -s /nowhere /dl",
                                   "COPY a.txt /dl"), TXT)
case("copy-dest-link-to-file", df(f"FROM {BASE}", "RUN echo x > /t && ln -s /t /lf",
                                  "COPY a.txt /lf"), TXT)
case("copy-whole-context", df(f"FROM {BASE}", "COPY . /ctx"), TXT)
case("copy-spaces", df(f"FROM {BASE}", 'COPY ["with space.txt", "/sp ace/"]'),
     {"with space.txt": "s"})
case("copy-from-stage", df(f"FROM {BASE} AS a", "RUN echo t > /t && chown 65:66 /t",
                           "FROM scratch", "COPY --from=a /t /t"))
case("copy-from-stage-dir", df(f"FROM {BASE} AS a",
                               "RUN mkdir -p /d/e && chown -R 7:8 /d && chmod 750 /d/e",
                               "FROM scratch", "COPY --from=a /d /d"))
case("copy-from-stage-hardlink", df(f"FROM {BASE} AS a",
                                    "RUN mkdir /h && echo p > /h/p && ln /h/p /h/q",
                                    "FROM scratch", "COPY --from=a /h /h"))
case("copy-from-stage-symlink", df(f"FROM {BASE} AS a", "RUN ln -s /etc/passwd /pw",
                                   "FROM scratch", "COPY --from=a /pw /pw"))
case("copy-from-stage-follow", df(f"FROM {BASE} AS a", "RUN mkdir /r && echo x > /r/x "
                                  "&& ln -s /r /l", "FROM scratch", "COPY --from=a /l/x /x"))
case("copy-from-image", df("FROM scratch", f"COPY --from={BASE} /etc/passwd /passwd"))
case("copy-from-index", df(f"FROM {BASE}", "RUN echo i > /i", "FROM scratch",
                           "COPY --from=0 /i /i"))
case("copy-from-chown", df(f"FROM {BASE} AS a", "RUN echo t > /t && chown 65:66 /t",
                           "FROM scratch", "COPY --from=a --chown=1:2 /t /t"))
case("copy-from-wildcard", df(f"FROM {BASE} AS a", "RUN mkdir /o && touch /o/a1 /o/a2",
                              "FROM scratch", "COPY --from=a /o/a* /w/"))
case("copy-hardlink-context", df(f"FROM {BASE}", "COPY h /h"),
     {"h/p": "p", "h/q": Link("=p")})

# -- ADD -------------------------------------------------------------------------------
case("add-tar", df(f"FROM {BASE}", "ADD t.tar /x/"), {"t.tar": TAR})
case("add-tar-no-slash", df(f"FROM {BASE}", "ADD t.tar /x"), {"t.tar": TAR})
case("add-tar-gz", df(f"FROM {BASE}", "ADD t.tgz /x/"),
     {"t.tgz": Tar(TAR.members, "gz")})
case("add-tar-bz2", df(f"FROM {BASE}", "ADD t.tar.bz2 /x/"),
     {"t.tar.bz2": Tar(TAR.members, "bz2")})
case("add-tar-xz", df(f"FROM {BASE}", "ADD t.tar.xz /x/"),
     {"t.tar.xz": Tar(TAR.members, "xz")})
case("add-tar-chown", df(f"FROM {BASE}", "ADD --chown=3:4 t.tar /x/"), {"t.tar": TAR})
case("add-tar-link-climb", df(f"FROM {BASE}", "ADD t.tar /sub"),
     {"t.tar": Tar((Member("link", kind="symlink", link=".."),
                    Member("link/etc/f", b"x\n")))})
case("add-tar-replaces-dir", df(f"FROM {BASE}", "RUN mkdir /d && touch /d/x", "ADD t.tar /"),
     {"t.tar": Tar((Member("d", b"file\n"),))})
case("add-tar-empty-name", df(f"FROM {BASE}", "ADD t.tar /e/"),
     {"t.tar": Tar((Member("", b"nothing"), Member("ok", b"ok\n")))})
case("add-tar-hardlink", df(f"FROM {BASE}", "ADD t.tar /h/"),
     {"t.tar": Tar((Member("p", b"p\n"), Member("q", kind="hardlink", link="p")))})
case("add-tar-whiteout-name", df(f"FROM {BASE}", "ADD t.tar /w/"),
     {"t.tar": Tar((Member(".wh.x", b"plain\n"), Member("y", b"y\n")))})
case("add-tar-absolute-names", df(f"FROM {BASE}", "ADD t.tar /abs/"),
     {"t.tar": Tar((Member("/etc/abs", b"a\n"),))})
case("add-tar-merges", df(f"FROM {BASE}", "RUN mkdir -p /m/d && echo keep > /m/d/keep",
                          "ADD t.tar /m/"), {"t.tar": TAR})
case("add-plain-file", df(f"FROM {BASE}", "ADD a.txt /p/"), TXT)
case("add-not-a-tar", df(f"FROM {BASE}", "ADD fake.tar /f/"), {"fake.tar": "not a tar\n"})
case("add-dir", df(f"FROM {BASE}", "ADD sub /added"), TXT)
case("add-tar-in-dir-copied", df(f"FROM {BASE}", "ADD d /d"), {"d/t.tar": TAR})
case("add-wildcard-tars", df(f"FROM {BASE}", "ADD *.tar /many/"),
     {"a.tar": TAR, "b.tar": Tar((Member("b.txt", b"b\n"),))})
case("copy-tar-not-unpacked", df(f"FROM {BASE}", "COPY t.tar /c/"), {"t.tar": TAR})

# -- ARG -------------------------------------------------------------------------------
case("arg-default-run", df(f"FROM {BASE}", "ARG V=one", "RUN echo $V > /v"))
case("arg-build-arg", df(f"FROM {BASE}", "ARG V=one", "RUN echo $V > /v"),
     build_args={"V": "two"})
case("arg-before-from", df("ARG B=" + BASE, "FROM $B", "RUN echo ok > /ok"))
case("arg-global-redeclared", df("ARG G=global", f"FROM {BASE}", "ARG G", "RUN echo $G > /g"))
case("arg-global-not-redeclared", df("ARG G=global", f"FROM {BASE}", "RUN echo x$G > /g"))
case("arg-from-stage-inherited", df(f"FROM {BASE} AS lower", 'ARG v="a b"', "FROM lower",
                                    'RUN echo "upper:$v" > /out'))
case("arg-from-stage-expanded", df(f"FROM {BASE} AS lower", "ARG D=/argdir", "FROM lower",
                                   "WORKDIR $D", "ENV E=$D"))
case("arg-from-stage-overridden", df(f"FROM {BASE} AS lower", "ARG v=low", "FROM lower",
                                     "ARG v=up", 'RUN echo "$v" > /out'))
case("arg-in-env", df(f"FROM {BASE}", "ARG V=val", "ENV E=$V"))
case("arg-in-copy", df(f"FROM {BASE}", "ARG F=a.txt", "ARG D=/dst/", "COPY $F $D"), TXT)
case("arg-shadowed-by-env", df(f"FROM {BASE}", "ARG V=arg", "ENV V=env", "RUN echo $V > /v"))
case("arg-two-stages", df(f"FROM {BASE} AS a", "ARG V=a", "FROM " + BASE,
                          "RUN echo x$V > /v"))
case("arg-spaces", df(f"FROM {BASE}", 'ARG S="a  b"', 'RUN echo "$S" > /s'))
case("arg-workdir", df(f"FROM {BASE}", "ARG W=/argw", "WORKDIR $W"))
case("arg-label", df(f"FROM {BASE}", "ARG L=lab", "LABEL l=$L"))
case("arg-no-value", df(f"FROM {BASE}", "ARG N", "RUN echo x$N > /n"))
case("arg-several", df(f"FROM {BASE}", "ARG A=1 B=2", "RUN echo $A$B > /ab"))
case("arg-targetarch", df(f"FROM {BASE}", "ARG TARGETARCH", "RUN echo $TARGETARCH > /arch"))
case("arg-env-expansion", df(f"FROM {BASE}", "ARG A=x", "ENV B=${A:-d}-${C:-dflt}"))

# -- .dockerignore ---------------------------------------------------------------------
IGN = {"a.txt": "a", "b.md": "b", "sub/c.txt": "c", "sub/a1.txt": "a1", "sub/x.log": "l",
       "folder/file1": "1", "folder/file2": "2", "deep/x/y.log": "y", "keep.md": "k"}


def ignore(name: str, patterns: str, dockerfile: str | None = None) -> None:
    case(f"ignore-{name}", dockerfile or df(f"FROM {BASE}", "COPY . /ctx"),
         {**IGN, ".dockerignore": patterns})


ignore("glob", "*.md\n")
ignore("dir", "sub\n")
ignore("all-but", "**\n!folder/file1\n", df(f"FROM {BASE}", "COPY folder /f1"))
ignore("dir-exception", "sub\n!sub/a*\n")
ignore("comments", "# a comment\n\n*.md\n  \n")
ignore("reinclude", "*.md\n!keep.md\n")
ignore("doublestar-log", "**/*.log\n")
ignore("dockerfile", "Dockerfile\n.dockerignore\n")
ignore("leading-slash", "/sub\n")
ignore("dot-slash", "./folder\n")
ignore("question", "?.txt\n")
ignore("order", "!sub/c.txt\nsub\n")
ignore("dir-star", "folder/*\n")
ignore("explicit-ignored", "a.txt\n", df(f"FROM {BASE}", "COPY a.txt /a"))
ignore("star-dir-exception", "*\n!sub\n")
ignore("dotdot-pattern", "sub/../b.md\n")
ignore("deep-exception", "deep\n!deep/x/y.log\n")
ignore("wildcard-copy", "sub/a*\n", df(f"FROM {BASE}", "COPY sub/*.txt /w/"))

# -- RUN and mounts --------------------------------------------------------------------
case("run-files", df(f"FROM {BASE}", "RUN mkdir -p /r/s && echo x > /r/s/x && chmod 700 /r/s"))
case("run-delete-base-file", df(f"FROM {BASE}", "RUN rm /etc/group"))
case("run-replace-dir", df(f"FROM {BASE}", "RUN mkdir -p /o/a && touch /o/a/f",
                           "RUN rm -rf /o && mkdir -p /o/b"))
case("run-chown-chmod", df(f"FROM {BASE}", "RUN touch /f && chown 5:6 /f && chmod 4711 /f"))
case("run-symlink-hardlink", df(f"FROM {BASE}", "RUN echo h > /h && ln /h /h2 && ln -s /h /s"))
case("run-fifo", df(f"FROM {BASE}", "RUN mkfifo /fifo"))
case("run-exec-form", df(f"FROM {BASE}", 'RUN ["/bin/sh", "-c", "echo exec > /e"]'))
case("run-env", df(f"FROM {BASE}", "ENV Q=quoted", "RUN echo $Q > /q"))
case("run-scratch-mountpoints", df("FROM scratch", f"COPY --from={BASE} /bin/busybox /bin/",
                                   'RUN ["/bin/busybox", "touch", "/made"]'))
case("mount-cache", df(f"FROM {BASE}", "RUN --mount=type=cache,target=/c echo x > /c/f "
                       "&& ls /c > /seen"))
case("mount-cache-shared", df(f"FROM {BASE}", "RUN --mount=type=cache,target=/c,id=k "
                              "touch /c/one",
                              "RUN --mount=type=cache,target=/c,id=k ls /c > /seen"))
case("mount-cache-uid-keyed", df(f"FROM {BASE}",
                                 "RUN --mount=type=cache,target=/c,id=u touch /c/one",
                                 "RUN --mount=type=cache,target=/c,id=u,uid=5 ls /c > /seen"))
case("mount-cache-mode-keyed", df(f"FROM {BASE}",
                                  "RUN --mount=type=cache,target=/c,id=m touch /c/one",
                                  "RUN --mount=type=cache,target=/c,id=m,mode=0700 "
                                  "ls /c > /seen"))
case("mount-cache-owner", df(f"FROM {BASE}", "RUN --mount=type=cache,target=/c,uid=9,gid=8 "
                             "stat -c %u:%g /c > /owner"))
case("mount-bind-context", df(f"FROM {BASE}", "RUN --mount=type=bind,target=/src "
                              "cat /src/a.txt > /copied"), TXT)
case("mount-bind-source", df(f"FROM {BASE}", "RUN --mount=type=bind,source=sub,target=/s "
                             "ls -R /s > /listed"), TXT)
case("mount-bind-stage", df(f"FROM {BASE} AS a", "RUN echo st > /st", f"FROM {BASE}",
                            "RUN --mount=type=bind,from=a,source=/st,target=/m/st "
                            "cat /m/st > /got"))
case("mount-tmpfs", df(f"FROM {BASE}", "RUN --mount=type=tmpfs,target=/tm "
                       "touch /tm/x && ls /tm > /seen"))
case("mount-target-existing", df(f"FROM {BASE}", "RUN --mount=type=cache,target=/tmp "
                                 "touch /tmp/x"))
case("mount-secret", df(f"FROM {BASE}", "RUN --mount=type=secret,id=tok wc -c "
                        "/run/secrets/tok > /n"), secrets={"tok": "s3cr3t"})
case("mount-secret-target", df(f"FROM {BASE}", "RUN --mount=type=secret,id=tok,target=/k/t "
                               "cat /k/t > /got"), secrets={"tok": "value"})
case("mount-secret-absent", df(f"FROM {BASE}", "RUN --mount=type=secret,id=none "
                               "ls /run > /listed"))
case("mount-bind-ignored", df(f"FROM {BASE}", "RUN --mount=type=bind,target=/src "
                              "ls /src > /listed"), {**TXT, ".dockerignore": "*.txt\n"})

# -- more of each rule -----------------------------------------------------------------
case("workdir-first-relative", df(f"FROM {BASE}", "WORKDIR rel/dir", "RUN pwd > /p"))
case("workdir-dotdot-absolute", df(f"FROM {BASE}", "WORKDIR /a/../b"))
case("user-unknown-numeric", df(f"FROM {BASE}", "USER 4242", "RUN touch /tmp/n"))
case("user-workdir-copy", df(f"FROM {BASE}", "USER app", "WORKDIR /home/app/x",
                             "COPY a.txt ."), TXT)
case("copy-env-dest", df(f"FROM {BASE}", "ENV D=/envdst", "COPY a.txt $D/"), TXT)
case("copy-chown-arg", df(f"FROM {BASE}", "ARG U=7", "COPY --chown=$U:$U a.txt /o"), TXT)
case("copy-into-link-dir", df(f"FROM {BASE}", "RUN mkdir /r && ln -s r /l", "COPY sub /l/"),
     TXT)
case("copy-from-dir-slash", df(f"FROM {BASE} AS a", "RUN mkdir -p /o/i && touch /o/i/f",
                               f"FROM {BASE}", "COPY --from=a /o/ /tmp/"))
case("copy-from-root", df(f"FROM {BASE} AS a", "RUN echo x > /x", "FROM scratch",
                          "COPY --from=a /x /"))
case("copy-same-twice", df(f"FROM {BASE}", "COPY a.txt /t", "COPY b.txt /t"), TXT)
case("copy-dir-over-link", df(f"FROM {BASE}", "RUN mkdir /t && ln -s /etc /t/sub",
                              "COPY . /t/"), {"sub/f": "f"})
case("copy-many-files", df(f"FROM {BASE}", "COPY many /many"),
     {f"many/d{i % 7}/f{i}": str(i) for i in range(120)})
case("add-tar-into-existing-file-path", df(f"FROM {BASE}", "ADD t.tar /etc/"),
     {"t.tar": Tar((Member("passwd2", b"p\n"),))})
case("add-tar-dir-modes-existing", df(f"FROM {BASE}", "RUN mkdir -m 700 /m",
                                      "ADD t.tar /"),
     {"t.tar": Tar((Member("m/", kind="dir", mode=0o755, uid=3),
                    Member("m/f", b"f\n")))})
case("arg-default-from-global", df("ARG V=glob", f"FROM {BASE}", "ARG V", "ENV E=$V"))
case("arg-in-from-platform", df("ARG IMG=busybox", "FROM ${IMG}:local", "RUN true"))
case("env-multi-expansion", df(f"FROM {BASE}", "ENV A=1 B=$A C=${A}x", "ENV D=$B$C"))
case("label-quoted", df(f"FROM {BASE}", 'LABEL "a b"="c d" e=f\\ g'))
case("cmd-json-entrypoint-shell", df(f"FROM {BASE}", 'CMD ["a", "b"]', "ENTRYPOINT top -b"))
case("stage-copy-chain", df(f"FROM {BASE} AS a", "RUN echo 1 > /one",
                            "FROM a AS b", "RUN echo 2 > /two", "FROM scratch",
                            "COPY --from=b /one /two /out/"))
ignore("node-modules", "**/node_modules\n", df(f"FROM {BASE}", "COPY . /ctx"))
ignore("star-slash-temp", "*/temp*\n")
ignore("negate-dir-then-file", "folder\n!folder\nfolder/file2\n")

"""``wharfie inspect --remote``: skopeo-style inspection of a registry image, nothing pulled."""

from wharfie.oci.platform import host_platform


def test_inspect_remote_reads_the_registry_without_pulling(wharfie, docker_registry,
                                                          busybox_rootfs_tar):
    wharfie("import", str(busybox_rootfs_tar), "busybox:local")
    name = f"{docker_registry}/remote/busybox:2"
    wharfie("tag", "busybox:local", name)
    wharfie("push", "-q", name)
    wharfie("rmi", name)
    res = wharfie("inspect", "--remote", "--format", "{{.Architecture}} {{len .Layers}}", name)
    assert res.stdout.split() == [host_platform().architecture.encode(), b"1"]
    assert wharfie("images", "-q", name).stdout.strip() == b""  # nothing was pulled
    missing = wharfie("inspect", "--remote", f"{docker_registry}/remote/nosuch:1", check=False)
    assert missing.returncode != 0 and b"wharfie: error:" in missing.stderr

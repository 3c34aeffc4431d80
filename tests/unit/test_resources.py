from __future__ import annotations

import re

import pytest

from tapeflow import IO, Component, Resource, ResourceError


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", 0.5), ("2", 2.0), (1.5, 1.5), ("512Mi", 512 * 2**20), ("2Gi", 2 * 2**30), ("1G", 1e9), ("1e3", 1000.0), ("10k", 10_000.0)],
)
def test_quantities(text: object, value: float) -> None:
    r = Resource(cpu=text)  # type: ignore[arg-type]
    assert r.cpu == value
    if value == int(value):
        assert Resource(memory=text).memory == int(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("512m", "bad resource quantity '512m' for memory: that is 0.512 bytes, and memory is a whole number of bytes; "
                 "did you mean '512Mi' (512 MiB) or '512M' (512 MB)?"),
        (1.5, "bad resource quantity 1.5 for memory: that is 1.5 bytes, and memory is a whole number of bytes; "
              "use a whole number, or a quantity such as 512Mi or 2Gi"),
    ],
)
def test_memory_is_whole_bytes_never_rounded_to_nothing(text: object, message: str) -> None:
    with pytest.raises(ResourceError, match=f"^{re.escape(message)}$"):
        Resource(memory=text)  # type: ignore[arg-type]


def test_ray_options_leave_out_what_was_not_asked_for() -> None:
    assert Resource().to_ray_options() == {"num_cpus": 0.001}
    assert Resource(cpu=2, memory="1Gi").to_ray_options() == {"num_cpus": 2.0, "memory": 2**30}
    assert Resource(gpu=0, resources={}).to_ray_options() == {"num_cpus": 0.001}


def test_ray_options_are_rays_actor_options() -> None:
    options = Resource(cpu="500m", gpu="500m", memory="1.5Gi", resources={"custom_hardware": "2"}).to_ray_options()
    assert options == {"num_cpus": 0.5, "num_gpus": 0.5, "memory": 3 * 2**29, "resources": {"custom_hardware": 2.0}}
    assert type(options["memory"]) is int  # Ray asks for bytes; a float would be rounded down by Ray, silently


@pytest.mark.parametrize("bad", ["lots", "5x", "-1", -1, True, "", "1.2.3"])
def test_bad_quantity_is_refused_with_the_fix(bad: object) -> None:
    with pytest.raises(ResourceError, match=r"^bad resource quantity .* for cpu; use a non-negative number or a Kubernetes quantity such as '500m', '512Mi', '2Gi'$"):
        Resource(cpu=bad)  # type: ignore[arg-type]


def test_instance_resources_extend_class_resources() -> None:
    class GPUTask(Component):
        io = IO(inputs=["data"])
        resources = Resource(cpu="500m", gpu=1)

    assert GPUTask(name="g").resources == Resource(cpu=0.5, gpu=1)
    extended = GPUTask(name="g2", resources={"memory": "512Mi", "resources": {"custom_hardware": 2}})
    assert extended.resources == Resource(cpu=0.5, gpu=1, memory=512 * 2**20, resources={"custom_hardware": 2})
    replaced = GPUTask(name="g3", resources=Resource(cpu=1))
    assert replaced.resources == Resource(cpu=1)
    assert extended.resources.to_ray_options() == {"num_cpus": 0.5, "num_gpus": 1.0, "memory": 512 * 2**20, "resources": {"custom_hardware": 2.0}}


def test_unknown_resource_field() -> None:
    with pytest.raises(ResourceError, match=r"^unknown resource field 'cpus'; fields are: 'cpu', 'gpu', 'memory', 'resources'$"):
        Resource.coerce({"cpus": 2})


def test_default_cpu_is_small() -> None:
    assert Resource().cpu == 0.001

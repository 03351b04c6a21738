"""Environment factory: Brax environments by name, and the long-legged Ant (paper Fig. 4A/B, 4E).

`make_env(name, backend, **changes)` validates the name and backend before building anything. The
long-legged Ant is Brax's own `Ant` whose system is reloaded from the Ant XML with the leg and ankle
capsules (and the feet at their ends) lengthened by `leg_scale`; it keeps every backend setting of
the standard body (solver options, timestep, actuator gear), so only the morphology differs
(paper §2.3.2: zero-shot transfer of a population trained on the normal body).
"""

from __future__ import annotations

import math
import re
from typing import Any

import brax.envs
from brax.envs.ant import Ant
from brax.io import mjcf
from etils import epath

BACKENDS = ("generalized", "spring", "positional", "mjx")
LONG_LEGGED_ANT = "ant_long_legs"

# Ant geometry (brax/envs/assets/ant.xml): a thigh capsule of length 0.2*sqrt(2) followed by an
# ankle capsule of length 0.4*sqrt(2); the torso starts at z = 0.55 with the ankle joints at 1 rad.
_ANT_INIT_HEIGHT = 0.55
_ANT_INIT_ANKLE_ANGLE = 1.0
_ANT_ANKLE_LENGTH = 0.4 * math.sqrt(2.0)
_ANT_HEALTHY_Z = (0.2, 1.0)

_LEG_GEOMS = ("left_leg_geom", "right_leg_geom", "back_leg_geom", "rightback_leg_geom")
_ANKLE_GEOMS = ("left_ankle_geom", "right_ankle_geom", "third_ankle_geom", "fourth_ankle_geom")
_FOOT_GEOMS = ("left_foot_geom", "right_foot_geom", "third_foot_geom", "fourth_foot_geom")


def env_names() -> list[str]:
    """Every name `make_env` accepts."""
    return sorted([*brax.envs._envs, LONG_LEGGED_ANT])  # noqa: SLF001 - brax has no public list


def _scale_attr(xml: str, pattern: str, attr: str, scale: float) -> tuple[str, int]:
    """Multiply the numbers of `attr` in every tag that matches `pattern`."""

    def scale_tag(match: re.Match) -> str:
        tag = match.group(0)
        return re.sub(rf'{attr}="([^"]*)"', lambda m: f'{attr}="' + " ".join(
            f"{float(v) * scale:.6g}" for v in m.group(1).split()) + '"', tag)

    return re.subn(pattern, scale_tag, xml)


def long_legged_ant_height(leg_scale: float) -> float:
    """Initial torso height keeping the feet on the floor (the ankle's drop grows with length)."""
    drop = _ANT_ANKLE_LENGTH * math.sin(_ANT_INIT_ANKLE_ANGLE)
    return _ANT_INIT_HEIGHT + (leg_scale - 1.0) * drop


def long_legged_ant_xml(leg_scale: float) -> str:
    """The Ant MJCF text with thighs, ankles and feet positions scaled by `leg_scale`.

    Scaled: each thigh capsule's `fromto` and the `pos` of the ankle body it carries, each ankle
    capsule's `fromto` and the `pos` of its foot sphere. Capsule radii, the hip segments and the
    torso are unchanged; the initial height (`init_qpos[2]`) is raised by the ankles' extra drop.
    """
    if not leg_scale > 0:
        raise ValueError(f"env leg_scale must be > 0, got {leg_scale}")
    xml = (epath.resource_path("brax") / "envs/assets/ant.xml").read_text()
    for name in _LEG_GEOMS + _ANKLE_GEOMS:
        xml, n = _scale_attr(xml, rf'<geom fromto="[^"]*" name="{name}"[^>]*>', "fromto", leg_scale)
        assert n == 1, f"ant.xml changed: geom {name} not found"
    for name in _FOOT_GEOMS:
        xml, n = _scale_attr(xml, rf'<geom name="{name}"[^>]*>', "pos", leg_scale)
        assert n == 1, f"ant.xml changed: geom {name} not found"
    # The ankle body sits at the end of the thigh: the only anonymous `<body pos=...>` tags.
    xml, n = _scale_attr(xml, r'<body pos="[^"]*">', "pos", leg_scale)
    assert n == 4, f"ant.xml changed: expected 4 ankle bodies, found {n}"
    height = long_legged_ant_height(leg_scale)
    xml, n = re.subn(r'(<numeric data="0\.0 0\.0 )0\.55( [^"]*" name="init_qpos"/>)',
                     rf"\g<1>{height:.6g}\g<2>", xml)
    assert n == 1, "ant.xml changed: init_qpos not found"
    return xml


class LongLeggedAnt(Ant):
    """Brax `Ant` with legs `leg_scale` times longer; same rewards, termination, backend settings.

    The healthy torso-height window is shifted up by the raised initial height, so a long-legged ant
    standing as the normal one does is not terminated for being "too high".
    """

    def __init__(self, leg_scale: float = 1.5, backend: str = "generalized", **kwargs: Any):
        lift = long_legged_ant_height(leg_scale) - _ANT_INIT_HEIGHT
        low, high = kwargs.pop("healthy_z_range", _ANT_HEALTHY_Z)
        super().__init__(backend=backend, healthy_z_range=(low, high + lift), **kwargs)
        standard = self.sys
        long_sys = mjcf.loads(long_legged_ant_xml(leg_scale))
        # Carry over what Ant.__init__ changes per backend (timestep, solver, gear).
        self.sys = long_sys.replace(
            opt=standard.opt, actuator=long_sys.actuator.replace(gear=standard.actuator.gear))
        self.leg_scale = leg_scale


def make_env(name: str, backend: str = "generalized", **changes: Any) -> brax.envs.Env:
    """A Brax environment by name (`env_names()`), or the long-legged Ant (`leg_scale=` in changes).

    Raises:
      ValueError: unknown name or backend, naming the allowed values.
    """
    if name not in env_names():
        raise ValueError(f"env name must be one of {env_names()}, got {name!r}")
    if backend not in BACKENDS:
        raise ValueError(f"env backend must be one of {list(BACKENDS)}, got {backend!r}")
    if name == LONG_LEGGED_ANT:
        return LongLeggedAnt(backend=backend, **changes)
    if "leg_scale" in changes:
        raise ValueError(f"env leg_scale only applies to {LONG_LEGGED_ANT!r}, not {name!r}")
    return brax.envs.get_environment(name, backend=backend, **changes)

"""The JSON log of a run: its config, weights, device, and every member's records."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax

from stylejax.config import label, style_weight_factor
from stylejax.engine.plan import Plan
from stylejax.files import finite_json
from stylejax.files.atomic import atomic_write
from stylejax.optim.loop import Result


def member_weights(plan: Plan, index: int) -> dict:
    pick = lambda d: {k: float(v[index]) for k, v in d.items()}  # noqa: E731
    weights = plan.loss_weights
    return {
        "content": pick(weights.content),
        "style": pick(weights.style),
        "tv": float(weights.tv[index]),
    }


def write(
    path: str | Path,
    plan: Plan,
    results: list[Result | None],
    partial: dict[int, list[dict]] | None = None,
    overwrite: bool = True,
) -> None:
    """Writes the log atomically. After an interruption `results` are None and `partial` holds
    each member's records so far. Records carry their scale's `size` as [height, width];
    `evaluations` and `seconds` are cumulative over the whole run."""
    source = plan.weights.source
    members = []
    for i, (member, result) in enumerate(zip(plan.members, results, strict=True)):
        members.append(
            {
                "label": label(member, plan.axes),
                "params": {name: getattr(member, name) for name in plan.axes},
                "effective_weights": member_weights(plan, i),
                "status": result.status if result else "interrupted",
                "compile_seconds": result.compile_seconds if result else None,
                "seconds": result.seconds if result else None,
                "records": result.history if result else (partial or {}).get(i, []),
            }
        )
    log = {
        "config": dataclasses.asdict(plan.config),
        "sweep": {name: list(values) for name, values in plan.axes.items()},
        "scales": [{"size": list(s.shape), "evaluations": s.evaluations} for s in plan.scales],
        "weights": {
            "path": plan.weights.path,
            "sha256": plan.weights.sha256,
            "source": source,
            "preprocessing": plan.weights.preprocessing.name,
        },
        "weights_note": f"effective style weights = style_weight x "
        f"{style_weight_factor(plan.config, source):g}, the factor of the {source} weight set "
        f"for the {plan.config.style_loss} loss (stylejax.config.style_weight_factor), x each "
        f"layer's relative weight; "
        f"logged losses are unweighted except total",
        "device": str(jax.devices()[0]),
        "devices": jax.device_count(),
        "image_size": list(plan.scales[-1].shape),
    }
    if plan.axes:
        log["members"] = members
    else:
        log |= members[0]
    with atomic_write(path, overwrite=overwrite) as tmp:
        # A loss that overflowed is null in the log, never `Infinity` (not JSON).
        Path(tmp).write_text(finite_json.dumps(log, indent=1))

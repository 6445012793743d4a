"""What ``Conversion.verify`` (and ``HybridConversion.verify``) report: the default tolerances per
precision, :class:`OutputError` per output and :class:`VerifyReport` with its verdict and advice."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


# default verify tolerance per precision (max error relative to max |eager|); the fp16/bf16
# bounds are those the README documents for the model zoo
DEFAULT_RTOL = {"fp32": 1e-4, "fp16": 1e-2, "bf16": 6e-2}
DEFAULT_ATOL = 1e-5


@dataclass
class OutputError:
    name: str
    shape: tuple
    max_abs: float
    max_rel: float
    exact: bool = False  # an integer/bool output: must equal eager exactly


@dataclass
class VerifyReport:
    """Reference evaluation of the network vs the eager module."""

    precision: str
    outputs: list = field(default_factory=list)  # OutputError per output
    first_divergent: Optional[object] = None  # NodeDiff, when node-by-node was requested
    nodes_compared: int = 0
    rtol: float = 1e-4
    atol: float = 1e-5

    @property
    def max_rel(self) -> float:
        return max((o.max_rel for o in self.outputs), default=0.0)

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for o in self.outputs), default=0.0)

    @property
    def ok(self) -> bool:
        return all(self._within(o) for o in self.outputs)

    def _within(self, o: "OutputError") -> bool:
        if o.exact:
            return o.max_abs == 0
        return o.max_abs <= self.atol or o.max_rel <= self.rtol

    def advice(self) -> str:
        """Which tolerance to raise for this report to pass (or why no tolerance helps)."""
        bad = [o for o in self.outputs if not self._within(o)]
        if not bad:
            return "all outputs within tolerance"
        exact = [o for o in bad if o.exact]
        if exact:
            return (f"output {exact[0].name!r} holds integers/booleans and differs from eager (max abs error "
                    f"{exact[0].max_abs:.3g}): such outputs must match exactly, no tolerance applies")
        worst = max(bad, key=lambda o: o.max_rel)
        if worst.max_rel == float("inf"):
            return (f"output {worst.name!r} has NaN/inf where eager has not (or at other positions): no "
                    "tolerance covers that")
        return (f"output {worst.name!r}: max rel error {worst.max_rel:.3g} > rtol={self.rtol:g} and max abs error "
                f"{worst.max_abs:.3g} > atol={self.atol:g}; to accept it raise rtol to {worst.max_rel * 1.01:.2g} "
                f"(or atol to {worst.max_abs * 1.01:.2g})")

    def __str__(self):
        lines = [f"verify ({self.precision}, reference evaluator vs eager torch): "
                 f"{'OK' if self.ok else 'MISMATCH'} (rtol={self.rtol:g}, atol={self.atol:g})"]
        for o in self.outputs:
            lines.append(f"  {o.name:<16} shape {str(o.shape):<20} max abs {o.max_abs:.3e}  max rel {o.max_rel:.3e}")
        if not self.ok:
            lines.append(f"  {self.advice()}")
        if self.nodes_compared:
            if self.first_divergent is None:
                lines.append(f"  node by node: all {self.nodes_compared} node outputs agree")
            else:
                lines.append(f"  first divergent node: {self.first_divergent}")
        return "\n".join(lines)

"""The MLP classification head shared by every model of the study."""

from __future__ import annotations

from torch import nn

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "silu": nn.SiLU}


class MLPHead(nn.Sequential):
    """Dropout -> Linear(in, hidden) -> act -> Dropout -> Linear(hidden, num_classes).

    ``hidden=0`` gives a plain linear probe (Dropout -> Linear), handy as an ablation.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden: int = 256,
        dropout: float = 0.3,
        activation: str = "relu",
    ) -> None:
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {sorted(_ACTIVATIONS)}")
        if num_classes < 1 or in_features < 1 or hidden < 0:
            raise ValueError(f"bad head sizes: in={in_features} hidden={hidden} classes={num_classes}")
        if hidden == 0:
            layers: list[nn.Module] = [nn.Dropout(dropout), nn.Linear(in_features, num_classes)]
        else:
            layers = [
                nn.Dropout(dropout),
                nn.Linear(in_features, hidden),
                _ACTIVATIONS[activation](),
                nn.Dropout(dropout),
                nn.Linear(hidden, num_classes),
            ]
        super().__init__(*layers)
        self.in_features = in_features
        self.num_classes = num_classes

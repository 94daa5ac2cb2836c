"""What the assembly passes between its steps: one region's foundation (`Site`) and the model
lifecycle (`Lifecycle`). Plain dataclasses of components, used only by the assembly modules."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from ml_platform.components.image import ModelImage
from ml_platform.components.keys import RegionKey
from ml_platform.components.monitoring import Alerts
from ml_platform.components.served_model import ServedModel
from ml_platform.components.storage import Storage
from ml_platform.components.training import ModelRegistry


@dataclass
class Site:
    """One region of the stack and what every component there builds on."""

    role: str
    region: str
    opts: pulumi.ResourceOptions
    key: RegionKey
    storage: Storage
    alerts: Alerts


@dataclass
class Lifecycle:
    image: ModelImage
    registry: ModelRegistry
    served: ServedModel

"""Upgrade shim for stacks whose state predates the move of this module to
`ml_platform.components.image_check`.

Pulumi stores a dynamic resource's provider in the state, dill-pickled by reference to the module
that defined its class (`__provider` of every `ImageReplicaCheck`). State written before the move
names `components.image_check._ImageReplicaProvider`, and Pulumi unpickles that old provider to
delete or refresh such a resource (pulumi/dynamic/__main__.py: Delete and Read use the stored
properties; Diff, Check and Create use the program's new one). This module lets that name resolve to
the current class, so replacing or removing an old check does not fail with
`No module named 'components'`. Remove it once every stack has run `pulumi up` with a new digest (the
check is then replaced and its state names the new module); see CHANGES for the manual alternative.
"""

from ml_platform.components.image_check import _ImageReplicaProvider

__all__ = ["_ImageReplicaProvider"]

"""ml-platform: SageMaker serving, spot training, drift-triggered retraining, backup and warm
standby on AWS, as Pulumi components.

`ml_platform.components` holds the reusable components and their Args; `ml_platform.config` the
stack config this project's own program reads; `ml_platform.platform` assembles the components for
one stack from that config.
"""

"""Once-for-All supernets: elastic layers, extraction, BN recalibration, progressive shrinking, checkpoints.

Pure core (no Qt). `ofa_mbv3.OFAMobileNetV3` is the elastic net, `extract` turns its active subnet
into a static model or an ArchGraph model, `trainer.PSTrainer` is the training job.
"""

"""Per-device latency: device files (luts/), OFA/ProxylessNAS LUT import, network-wise predictors."""

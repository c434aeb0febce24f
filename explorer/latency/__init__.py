"""Per-device latency. `device` (the one Device model, Prediction), one module per kind (`lut`,
`network`, `fewshot`, `local`), `registry` (find/load/list devices), `predict.predict_graph` (any
graph on any device), `keys` (LUT keys of a graph), `measure` / `profile` (this machine's tables),
`metrics` (accuracy figures), `evaluate` / `noise` (the public data's protocols and ceilings)."""

"""The model: ``T2GModel`` and its parts, and the causal-step rules every runtime shares.

- ``causal``: the memory window of frame t and the memory-1 rule (numpy-free, torch-free: the
  onnxruntime segmenter reads it too).
"""

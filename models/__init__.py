"""Model feature spec, synthetic data, training and the committed .tflite files."""

"""What the explainers are fed: images from files, folders and photos (with face detection)."""

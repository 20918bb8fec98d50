"""Training: the trainer, augmentation, distributed runs, studies and the allocator they use."""

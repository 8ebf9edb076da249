class PretrainedConfig:
    model_type = ""

    def __init__(self, tie_word_embeddings=True, initializer_range=0.02, **kwargs):
        self.tie_word_embeddings = tie_word_embeddings
        self.initializer_range = initializer_range
        for key, value in kwargs.items():
            setattr(self, key, value)

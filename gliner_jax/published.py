"""Encoder shapes of the public GLiNER backbones, for shape-only work (AOT compiles, FLOP counts)
without downloading them. Values are those of the backbones' Hugging Face `config.json` files.
"""

_DEBERTA_V3 = dict(model_type="deberta-v2", relative_attention=True, max_relative_positions=-1,
                   position_buckets=256, norm_rel_ebd="layer_norm", share_att_key=True,
                   pos_att_type=("p2c", "c2p"), position_biased_input=False, type_vocab_size=0,
                   hidden_act="gelu", layer_norm_eps=1e-7, max_position_embeddings=512, pad_token_id=0)

# vocab sizes include the three GLiNER tokens ([FLERT], <<ENT>>, <<SEP>>) added to the tokenizer.
ENCODERS = {
    "microsoft/deberta-v3-small": dict(_DEBERTA_V3, vocab_size=128003, hidden_size=768, num_hidden_layers=6,
                                       num_attention_heads=12, intermediate_size=3072),
    "microsoft/deberta-v3-base": dict(_DEBERTA_V3, vocab_size=128003, hidden_size=768, num_hidden_layers=12,
                                      num_attention_heads=12, intermediate_size=3072),
    "microsoft/deberta-v3-large": dict(_DEBERTA_V3, vocab_size=128003, hidden_size=1024, num_hidden_layers=24,
                                       num_attention_heads=16, intermediate_size=4096),
    "microsoft/mdeberta-v3-base": dict(_DEBERTA_V3, vocab_size=251003, hidden_size=768, num_hidden_layers=12,
                                       num_attention_heads=12, intermediate_size=3072),
    "sentence-transformers/all-MiniLM-L6-v2": dict(
        model_type="bert", vocab_size=30525, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
        intermediate_size=1536, hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2),
}

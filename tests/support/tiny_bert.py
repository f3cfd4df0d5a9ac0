"""A tiny BERT sentiment classifier (2 layers, hidden 32) and its WordPiece tokenizer, built and saved by the tests
that exercise the FinBERT adapter. Needs the ``finbert`` extra (torch, transformers); callers skip without it."""

from __future__ import annotations

from pathlib import Path

WORD_TEXT = (
    "the a an of to in on for and or but not no is are was were be has have had will would can could may "
    "bitcoin btc ether eth crypto coin token market markets price prices stock stocks share shares bank banks "
    "rally rallies surge surges soar soars jump jumps gain gains rise rises rose up high higher record profit "
    "crash crashes plunge plunges fall falls fell drop drops slump loss losses down low lower fear hack fraud "
    "ban bans sec etf approval approves rejects lawsuit fine fined investors traders exchange exchanges fund "
    "funds buy sell sells bought sold bull bear bullish bearish week day year month after before amid as by "
    "with from at its their new big small first last says said report reports quarter earnings beats misses "
    "upgrade downgrade guidance dividend buyback billion million percent growth inflation rate rates fed cut"
)
WORDS = WORD_TEXT.split()
CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
PUNCT = list(".,;:!?$%&'\"()-/")
VOCAB = list(
    dict.fromkeys(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *PUNCT, *CHARS, *(f"##{c}" for c in CHARS), *WORDS]
    )
)
ID2LABEL = {0: "positive", 1: "negative", 2: "neutral"}


def save_tiny_bert(directory: Path, *, id2label: dict[int, str] = ID2LABEL, seed: int = 0) -> Path:
    """A randomly initialised 2-layer BERT classifier (hidden 32) and its WordPiece tokenizer, saved locally."""
    import torch
    import transformers

    from tsbot.adapters.models.finbert import wordpiece_tokenizer

    config = transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        initializer_range=0.2,
        num_labels=len(id2label),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(seed)
    model = transformers.BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.mul_(20.0)  # spread the probabilities, so that differences show
    model.save_pretrained(directory)
    wordpiece_tokenizer(VOCAB, model_max_length=64).save_pretrained(directory)
    return directory

"""Pure helpers that shape Dalston transcripts into other vendors' wire formats."""

"""SMPP 3.4 in Textos's hands: the PDU codec, sessions, an ESME client and what it reads and writes (no Textos storage or delivery here)."""

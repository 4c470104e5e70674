"""SMPP 3.4 protocol layer: PDU codec, session, UDH/SAR, receipts, message ids."""

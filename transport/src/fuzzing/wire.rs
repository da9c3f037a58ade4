//! Wire-format targets: `header_decode`, `frames`, `transport_params`, `identity_text`.

#[allow(unused_imports)]
use super::*;

// ===== wire: headers, frames, transport parameters ========================================

/// Target `header_decode`: raw bytes as a datagram.
///
/// Checks that a header that parses has the length it reports and re-emits to exactly
/// the bytes it was parsed from, that the cheap demux (`peek_dcid`, `is_netchan`) agrees
/// with the full parse, that the view splits the datagram into header and payload, that
/// a long header's handshake message lies inside the payload, and that a varint at the
/// start re-encodes canonically.
pub fn header_decode(data: &[u8]) {
    let mut r = Reader::new(data);
    if let Ok(v) = r.varint("fuzz") {
        let n = r.position();
        assert!(v <= MAX_VARINT);
        assert_eq!(varint_len(v), n, "varint {v} decoded from {n} bytes");
        let mut out = Vec::new();
        write_varint(&mut out, v);
        assert_eq!(out, data[..n], "varints are canonical");
    }
    let peek = PacketView::peek_dcid(data);
    let Ok((header, len)) = Header::parse(data) else {
        assert!(PacketView::new_checked(data).is_err());
        return;
    };
    assert_eq!(len, header.len(), "parsed length is the encoded length");
    assert!(len <= data.len());
    let mut out = vec![0xee];
    assert_eq!(header.emit(&mut out), len);
    assert_eq!(out[1..], data[..len], "headers re-emit to the parsed bytes");
    assert_eq!(peek, Some(header.dcid()), "peek_dcid agrees with the parse");
    assert!(PacketView::is_netchan(data[0]));
    let view = PacketView::new_checked(data).expect("parsed once, parses again");
    assert_eq!(*view.header(), header);
    assert_eq!(view.header_len(), len);
    assert_eq!(view.header_bytes(), &data[..len]);
    assert_eq!(view.payload(), &data[len..]);
    assert_eq!(view.as_bytes(), data);
    match header {
        Header::Long(h) => {
            assert_eq!(h.version, PROTOCOL_VERSION);
            if let Some(msg) = handshake_message(view.payload()) {
                let prefix = varint_len(msg.len() as u64);
                assert!(prefix + msg.len() <= view.payload().len());
                assert_eq!(msg, &view.payload()[prefix..prefix + msg.len()]);
            }
        }
        Header::Short(h) => {
            assert!(h.path_id <= MAX_VARINT && h.packet_number <= MAX_VARINT);
        }
    }
}

/// Checks one decoded frame: exact size, canonical re-encoding and frame-specific limits.
pub(super) fn check_frame(f: &Frame<'_>, wire: &[u8]) {
    assert_eq!(f.encoded_len(), wire.len(), "encoded_len of {f:?}");
    let mut out = vec![0xee];
    f.encode(&mut out);
    assert_eq!(out[0], 0xee, "encode appends");
    assert_eq!(
        out[1..],
        *wire,
        "frames re-encode to the decoded bytes: {f:?}"
    );
    let mut r = Reader::new(wire);
    let again = Frame::decode(&mut r).expect("an encoded frame decodes");
    assert!(r.is_empty());
    assert_eq!(again, *f);
    match f {
        Frame::Ack(ack) => {
            assert!(ack.is_valid(), "decoded ACK is valid: {ack:?}");
            assert_eq!(ack.largest(), ack.ranges.first().map(|r| r.1));
        }
        Frame::ChannelData {
            channel,
            offset,
            data,
        } => {
            assert!(
                offset
                    .checked_add(data.len() as u64)
                    .is_some_and(|e| e <= MAX_VARINT)
            );
            assert_eq!(
                Frame::channel_data_overhead(*channel, *offset, data.len()) + data.len(),
                wire.len()
            );
        }
        Frame::ChannelOpen { label, .. } => assert!(label.len() <= MAX_LABEL_LEN),
        Frame::ConnectionClose { reason, .. } => assert!(reason.len() <= MAX_REASON_LEN),
        Frame::Padding { len } => assert!(*len >= 1 && wire.iter().all(|&b| b == 0)),
        _ => {}
    }
    assert_eq!(
        f.is_ack_eliciting(),
        !matches!(
            f,
            Frame::Padding { .. } | Frame::Ack(_) | Frame::ConnectionClose { .. }
        )
    );
}

/// Target `frames`: raw bytes as a decrypted packet payload.
///
/// Every frame the iterator yields must re-encode to exactly the bytes it was decoded
/// from, with `encoded_len` equal to that size, and decode again to the same value; the
/// frames before the first error re-encode to exactly that prefix of the payload; the
/// iterator is fused after an error.
pub fn frames(data: &[u8]) {
    let mut it = Frames::new(data);
    let mut reencoded = Vec::new();
    loop {
        let before = it.position();
        match it.next() {
            None => break,
            Some(Ok(f)) => {
                let after = it.position();
                assert!(after > before, "every frame consumes input");
                check_frame(&f, &data[before..after]);
                f.encode(&mut reencoded);
            }
            Some(Err(_)) => {
                assert!(it.next().is_none(), "iterator stops after an error");
                break;
            }
        }
    }
    assert!(it.next().is_none());
    assert_eq!(
        reencoded,
        data[..reencoded.len()],
        "decoded frames re-encode to the payload prefix they came from"
    );
}

/// Target `transport_params`: raw bytes as a transport parameter block.
///
/// A block that decodes re-encodes to a block that decodes to the same value and is a
/// fixed point of encode∘decode; decoded values respect the documented limits; more
/// than `MAX_ENTRIES` entries never decode.
pub fn transport_params(data: &[u8]) {
    let Ok(p) = TransportParams::decode(data) else {
        return;
    };
    assert!(p.max_datagram_size >= 1200, "0x07 below 1200 is rejected");
    assert!(p.max_ack_delay_ms <= 1 << 14, "0x02 is clamped");
    if let Some(cid) = p.connection_id {
        assert!(cid[0] < 0x40, "a CID parameter is a varint: top bits zero");
    }
    let mut entries = 0;
    let mut r = Reader::new(data);
    while !r.is_empty() {
        r.varint("id").expect("decoded once");
        r.varint("value").expect("decoded once");
        entries += 1;
    }
    assert!(entries <= TransportParams::MAX_ENTRIES);
    let mut enc = Vec::new();
    p.encode(&mut enc);
    let again = TransportParams::decode(&enc).expect("an encoded block decodes");
    assert_eq!(again, p, "decode(encode(p)) == p");
    let mut enc2 = Vec::new();
    again.encode(&mut enc2);
    assert_eq!(enc, enc2, "encoding is deterministic");
}

// ===== identity ==============================================================================

/// Target `identity_text`: bytes as key text (UTF-8) or raw key bytes.
///
/// A printable public key that parses prints back as its lowercase form, and the
/// lowercase and uppercase forms parse to the same key; a secret key text that parses
/// gives a key pair whose own secret text parses to the same key pair; a peer address
/// that parses splits at its first `@` into a key and a non-empty address.
pub fn identity_text(data: &[u8]) {
    if let Ok(k) = PublicKey::from_slice(data) {
        assert_eq!(data.len(), 32);
        assert_eq!(k.to_string().parse::<PublicKey>(), Ok(k));
    }
    if data.len() == 32 {
        let kp = Keypair::from_bytes(data).expect("32 bytes are a secret");
        let again = Keypair::from_bytes(&kp.to_bytes()).expect("32 bytes");
        assert_eq!(again.public(), kp.public(), "clamping is idempotent");
        assert_eq!(again.to_bytes(), kp.to_bytes());
    }
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match s.parse::<PublicKey>() {
        Ok(k) => {
            assert_eq!(s.len(), crate::identity::KEY_TEXT_LEN);
            assert_eq!(k.to_string(), s.to_ascii_lowercase(), "one printable form");
            assert_eq!(s.to_ascii_uppercase().parse::<PublicKey>(), Ok(k));
        }
        Err(KeyError::TextLength { found }) => assert_eq!(found, s.len()),
        Err(KeyError::InvalidCharacter { position }) => assert!(position < s.len()),
        Err(_) => {}
    }
    if let Ok(kp) = Keypair::from_secret_text(s) {
        assert!(
            s.len() == crate::identity::KEY_TEXT_LEN || s.len() == crate::identity::KEY_HEX_LEN
        );
        let text = kp.secret_text();
        assert_eq!(text.len(), crate::identity::KEY_TEXT_LEN);
        let again = Keypair::from_secret_text(&text).expect("own secret text parses");
        assert_eq!(again.public(), kp.public());
        assert_eq!(again.secret_bytes(), kp.secret_bytes());
    }
    match parse_peer_address(s) {
        Ok((k, addr)) => {
            assert!(!addr.is_empty());
            let (key_text, rest) = s.split_once('@').expect("has an @");
            assert_eq!(rest, addr);
            assert_eq!(key_text.parse::<PublicKey>(), Ok(k));
        }
        Err(KeyError::MissingAt) => assert!(!s.contains('@')),
        Err(KeyError::EmptyAddress) => assert!(s.ends_with('@')),
        Err(_) => {}
    }
}

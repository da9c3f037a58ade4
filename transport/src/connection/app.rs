//! The application's side of a connection: channels, messages, datagrams, closing.

use super::*;
use crate::channel::{ChannelId, FinState};
use crate::error::{OpenError, SendError};
use crate::path::PathMode;
use crate::wire::MAX_LABEL_LEN;

impl Connection {
    /// Opens a channel with a label the peer sees in [`Event::ChannelOpened`].
    pub fn open_channel(&mut self, label: &[u8]) -> Result<ChannelId, OpenError> {
        if !matches!(self.state, State::Handshaking | State::Established) || self.shutdown {
            return Err(OpenError::NotConnected);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(OpenError::LabelTooLong);
        }
        let opened = self.next_local_channel / 2;
        if let Some(p) = &self.peer_params
            && opened >= p.max_channels
        {
            return Err(OpenError::Limit);
        }
        let id = self.next_local_channel;
        self.next_local_channel += 2;
        let mut ch = self.new_channel(true);
        ch.label = Bytes::copy_from_slice(label);
        ch.open_pending = true;
        self.channels.insert(id, ch);
        self.touch(id);
        Ok(ChannelId(id))
    }

    pub(super) fn new_channel(&self, local: bool) -> Channel {
        let credit = self
            .peer_params
            .as_ref()
            .map_or(0, |p| p.initial_max_channel_data);
        let mut send = SendState::new(credit);
        if self.shutdown {
            send.fin = FinState::Pending; // shutting down: this side sends nothing more
        }
        Channel {
            send,
            recv: RecvState::new(
                self.config.channel_receive_window,
                self.config.max_message_size,
            ),
            label: Bytes::new(),
            open_pending: false,
            open_in_flight: false,
            announced: local,
            readable_signaled: false,
            recv_closed: false,
            mode: self.config.path_mode,
            parity: Default::default(),
            parity_seen: false,
        }
    }

    /// Chooses how this side's data on `channel` is spread over the paths (multipath;
    /// the connection's [`TransportConfig::path_mode`](crate::TransportConfig) until
    /// then). Data already sent keeps the copies it had.
    pub fn set_channel_mode(
        &mut self,
        channel: ChannelId,
        mode: PathMode,
    ) -> Result<(), SendError> {
        let ch = self
            .channels
            .get_mut(&channel.0)
            .ok_or(SendError::ChannelClosed)?;
        ch.mode = mode;
        Ok(())
    }

    /// The mode of this side's data on `channel`, if the channel exists.
    pub fn channel_mode(&self, channel: ChannelId) -> Option<PathMode> {
        self.channels.get(&channel.0).map(|c| c.mode)
    }

    /// Queues one message on a channel. Fails without keeping the message when the
    /// channel's send buffer is full ([`SendError::Blocked`]: wait for
    /// [`Event::ChannelWritable`]), when it exceeds the peer's maximum message size, or
    /// when the channel or connection is closed.
    pub fn send(&mut self, channel: ChannelId, msg: &[u8]) -> Result<(), SendError> {
        if !matches!(self.state, State::Handshaking | State::Established) || self.shutdown {
            return Err(SendError::NotConnected);
        }
        let limit = self
            .peer_params
            .as_ref()
            .map_or(self.config.max_message_size, |p| p.max_message_size);
        if msg.len() as u64 > limit {
            return Err(SendError::TooLarge {
                size: msg.len() as u64,
                limit,
            });
        }
        let buffer_limit = self.config.channel_send_buffer;
        if self.channels.contains_key(&channel.0) {
            self.touch(channel.0);
        }
        let ch = self
            .channels
            .get_mut(&channel.0)
            .ok_or(SendError::ChannelClosed)?;
        if ch.send.fin != FinState::Open {
            return Err(SendError::ChannelClosed);
        }
        if ch.send.buffered() > 0 && ch.send.buffered() + msg.len() as u64 > buffer_limit {
            ch.send.wants_writable = true;
            return Err(SendError::Blocked);
        }
        ch.send.write_message(msg);
        Ok(())
    }

    /// Bytes the channel still holds unacknowledged (0 when everything was delivered).
    pub fn send_buffered(&self, channel: ChannelId) -> u64 {
        self.channels
            .get(&channel.0)
            .map_or(0, |c| c.send.buffered())
    }

    /// Takes the next complete message of a channel.
    pub fn recv(&mut self, channel: ChannelId) -> Option<Bytes> {
        let popped = self.with_recv(channel.0, |r| r.pop())?;
        let ch = self.channels.get_mut(&channel.0)?;
        let Some(msg) = popped else {
            ch.readable_signaled = false;
            return None;
        };
        self.stats.messages_delivered += 1;
        self.stats.bytes_delivered += msg.len() as u64;
        if ch.recv.is_finished() && !ch.recv.finished_reported {
            ch.recv.finished_reported = true;
            self.events.push_back(Event::ChannelFinished(channel));
        }
        self.update_connection_credit();
        Some(msg)
    }

    /// Finishes the sending half of a channel: messages already queued are still
    /// delivered, then the peer sees [`Event::ChannelFinished`].
    pub fn close_channel(&mut self, channel: ChannelId) -> Result<(), SendError> {
        if self.channels.contains_key(&channel.0) {
            self.touch(channel.0);
        }
        let ch = self
            .channels
            .get_mut(&channel.0)
            .ok_or(SendError::ChannelClosed)?;
        if ch.send.fin != FinState::Open {
            return Err(SendError::ChannelClosed);
        }
        ch.send.fin = FinState::Pending;
        Ok(())
    }

    /// Queues an unreliable datagram (it must fit in one packet). When the queue is full
    /// the oldest queued datagram is dropped.
    pub fn send_datagram(&mut self, data: Bytes) -> Result<(), SendError> {
        if !matches!(self.state, State::Handshaking | State::Established) {
            return Err(SendError::NotConnected);
        }
        let limit = self.max_datagram_payload() as u64;
        if data.len() as u64 > limit {
            return Err(SendError::TooLarge {
                size: data.len() as u64,
                limit,
            });
        }
        if self.dgram_out.len() >= self.config.datagram_queue {
            self.dgram_out.pop_front();
        }
        self.dgram_out.push_back(data);
        Ok(())
    }

    /// Largest datagram payload `send_datagram` accepts (it must fit every path).
    pub fn max_datagram_payload(&self) -> usize {
        let mds = self.paths.iter().map(|p| p.mds).min().unwrap_or(0);
        // header: 1 + 8 + path id (1) + packet number (<= 8); frame: type + length (<= 3)
        (mds as usize).saturating_sub(1 + 8 + 1 + 8 + 16 + 1 + 2)
    }

    /// Takes the next received datagram.
    pub fn recv_datagram(&mut self) -> Option<Bytes> {
        let d = self.dgram_in.pop_front();
        if d.is_none() {
            self.dgram_signaled = false;
        }
        d
    }

    /// Closes the connection now with an application code: queued data is abandoned,
    /// the peer is told, and the connection drains for three PTOs.
    pub fn close(&mut self, now: Instant, code: u64, reason: &[u8]) {
        let reason =
            Bytes::copy_from_slice(&reason[..reason.len().min(crate::wire::MAX_REASON_LEN)]);
        self.start_close(
            now,
            0x100u64.saturating_add(code),
            reason,
            ConnectionError::LocallyClosed,
        );
    }

    /// Graceful close: every channel is finished, and once all queued messages are
    /// acknowledged the connection closes with code 0.
    pub fn shutdown(&mut self) {
        self.shutdown = true;
        let ids: Vec<u64> = self.channels.keys().copied().collect();
        for id in ids {
            self.touch(id); // once per connection: every channel gets its close
        }
        for ch in self.channels.values_mut() {
            if ch.send.fin == FinState::Open {
                ch.send.fin = FinState::Pending;
            }
        }
    }
}

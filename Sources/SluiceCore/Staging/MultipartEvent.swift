/// One step of a `multipart/form-data` body, as reported by ``MultipartParser``.
public enum MultipartEvent: Sendable, Hashable {
    /// A part starts; its body follows as zero or more ``partData(_:)`` events.
    case partBegin(MultipartPartHeaders)
    /// The next bytes of the current part's body.
    case partData([UInt8])
    /// The current part's body is complete.
    case partEnd
    /// The closing delimiter was read; anything after it (the epilogue) is ignored.
    case end
}

/// Why an event file cannot be written or read back.
public enum TensorBoardError: Error, CustomStringConvertible, Equatable {
    /// `--tensorboard DIR` names something that is not a folder.
    case notADirectory(path: String)
    /// The folder (or, when it does not exist yet, the folder it would be made in) cannot be
    /// written to.
    case notWritable(path: String)
    /// Making the folder or the file failed.
    case cannotCreate(path: String, why: String)
    /// Writing to the event file failed (disk full, file removed...).
    case cannotWrite(path: String, why: String)
    /// The event file cannot be read.
    case cannotRead(path: String)
    /// The file ends inside the record starting at `offset`.
    case truncatedRecord(path: String, offset: Int)
    /// The length of the record at `offset` does not match its CRC.
    case badLengthCRC(path: String, offset: Int)
    /// The data of the record at `offset` does not match its CRC.
    case badDataCRC(path: String, offset: Int)
    /// The record at `offset` is not an Event protobuf.
    case notAnEvent(path: String, offset: Int, why: String)

    public var description: String {
        switch self {
        case .notADirectory(let p):
            return "\(p) is not a folder: --tensorboard needs a folder for its event files. Name a folder, or a path that does not exist yet."
        case .notWritable(let p):
            return "\(p) cannot be written to: the TensorBoard event file goes there. Choose another --tensorboard folder or change its permissions."
        case .cannotCreate(let p, let why):
            return "cannot create \(p) for TensorBoard's event file: \(why). Choose a --tensorboard folder you can write to (on an ordinary file system), or make it yourself first."
        case .cannotWrite(let p, let why):
            return "cannot write to the TensorBoard event file \(p): \(why). Check the disk has room and the file is still there."
        case .cannotRead(let p):
            return "cannot read the event file \(p). Check that it exists and can be read."
        case .truncatedRecord(let p, let o):
            return "\(p): the file ends inside the record at byte \(o) (a run stopped while writing it?). The records before it are intact."
        case .badLengthCRC(let p, let o):
            return "\(p): the length of the record at byte \(o) does not match its CRC: the file is damaged or not a TFRecord file."
        case .badDataCRC(let p, let o):
            return "\(p): the data of the record at byte \(o) does not match its CRC: the file is damaged."
        case .notAnEvent(let p, let o, let why):
            return "\(p): the record at byte \(o) is not a TensorBoard Event (\(why))."
        }
    }
}

import Foundation
import SwiftProtobuf

/// An event file read back: its version and its scalars, every record's CRCs checked.
public struct EventFile: Equatable, Sendable {
    /// `file_version` of the first event ("brain.Event:2"), nil when there is none.
    public var fileVersion: String?
    /// The first event's wall time.
    public var wallTime: Double?
    /// Every `simple_value`, in file order.
    public var scalars: [ScalarEvent]

    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw TensorBoardError.cannotRead(path: path) }
        try self.init(bytes: Array(data), path: path)
    }

    public init(bytes: [UInt8], path: String) throws {
        fileVersion = nil; wallTime = nil; scalars = []
        var offset = 0
        for (i, record) in try TFRecord.records(in: bytes, path: path).enumerated() {
            let event: Tensorboard_Event
            do { event = try Tensorboard_Event(serializedBytes: record) } catch {
                throw TensorBoardError.notAnEvent(path: path, offset: offset, why: "\(error)")
            }
            switch event.what {
            case .fileVersion(let v)? where i == 0:
                fileVersion = v; wallTime = event.wallTime
            case .summary(let s)?:
                for v in s.value {
                    if case .simpleValue(let x)? = v.value {
                        scalars.append(ScalarEvent(tag: v.tag, step: event.step, wallTime: event.wallTime, value: x))
                    }
                }
            default: break
            }
            offset += record.count + 16
        }
    }

    /// The values of `tag`, by step.
    public func values(_ tag: String) -> [(step: Int64, value: Float)] {
        scalars.filter { $0.tag == tag }.map { ($0.step, $0.value) }
    }
}

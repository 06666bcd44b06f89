import Foundation
import GRDB
import Hummingbird

/// A db row as the API shows it: every column under its own name, a null column as `null`, so clients see the
/// whole row whatever columns a later schema adds (`GET /api/videos/{id}`, the list's items, the audit log).
public struct RowJSON: ResponseEncodable, Sendable {
    public let columns: [(name: String, value: DatabaseValue)]

    public init(_ row: Row) {
        columns = row.columnNames.map { name in (name, row[name] as DatabaseValue) }
    }

    /// A row read from another store (PostgreSQL), in its column order.
    public init(columns: [(name: String, value: DatabaseValue)]) {
        self.columns = columns
    }

    public subscript(_ name: String) -> DatabaseValue? { columns.first { $0.name == name }?.value }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: ColumnKey.self)
        for (name, value) in columns {
            let key = ColumnKey(name)
            switch value.storage {
            case .null: try c.encodeNil(forKey: key)
            case .int64(let n): try c.encode(n, forKey: key)
            case .double(let d): try c.encode(d, forKey: key)
            case .string(let s): try c.encode(s, forKey: key)
            case .blob(let data): try c.encode(data.base64EncodedString(), forKey: key)
            }
        }
    }

    struct ColumnKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

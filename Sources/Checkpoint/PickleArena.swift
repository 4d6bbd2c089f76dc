/// Every list, dict and object the pickles of one read build, so that the read can empty them
/// all when it is done with them. A pickle may build cycles (`d = {}; d['a'] = d`, a list that
/// appends itself, a dict holding a list that holds the dict), and `torch.load` reads such files:
/// reference counting alone would never free them. Emptying every mutable container breaks
/// every cycle (a tuple is made after its items, so a cycle always passes through one of them).
final class PickleArena {
    /// Values the read's pickles pushed or copied so far, and the pickle bytes they have read:
    /// `ReadLimits.maxObjects` bounds the read, not each of its pickles (a tar checkpoint has
    /// one per storage and per tensor).
    var values = 0
    var bytesRead = 0

    private var lists: [PyList] = []
    private var dicts: [PyDict] = []
    private var objects: [PyObject] = []

    /// Records `value` if it is a container the pickle can still change.
    func keep(_ value: PyValue) {
        switch value {
        case .list(let l): lists.append(l)
        case .dict(let d): dicts.append(d)
        case .object(let o): objects.append(o)
        default: break
        }
    }

    /// Empties every container recorded (the values built from them must no longer be needed)
    /// and forgets them; what they held is released without recursion (`dismantle`).
    func release() {
        var held: [PyValue] = []
        for l in lists { held += l.items; l.items = [] }
        for d in dicts { held += d.drain() }
        for o in objects { if let st = o.state { held.append(st); o.state = nil } }
        lists = []; dicts = []; objects = []
        dismantle(&held)
    }
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock, Scheduler } from '../core/scheduler.js';
import { ImpairedLink, newLinkStats, type FrameLink, type FrameSink, type LinkCondition } from './model.js';

/** A real link stand-in: records what the node sent; the test plays the cloud. */
class Wire implements FrameLink<{ handshakeTimeoutMs?: number }> {
  sent: { t: number; text: string }[] = [];
  dials = 0;
  closed = false;
  constructor(
    readonly sink: FrameSink,
    private readonly clock: FakeClock,
  ) {}
  dial(): void {
    this.dials++;
  }
  send(text: string): boolean {
    this.sent.push({ t: this.clock.now(), text });
    return true;
  }
  close(): void {
    this.closed = true;
  }
}

function setup(random = () => 0.5) {
  const clock = new FakeClock(0);
  const scheduler = new Scheduler(clock);
  const got: { t: number; text: string }[] = [];
  const events: string[] = [];
  let wire!: Wire;
  const sink: FrameSink = {
    onOpen: () => events.push(`open@${clock.now()}`),
    onFrame: (text) => got.push({ t: clock.now(), text }),
    onClose: (why) => events.push(`close@${clock.now()}:${why}`),
  };
  const stats = newLinkStats();
  const link = new ImpairedLink(
    sink,
    (s) => {
      wire = new Wire(s, clock);
      return wire;
    },
    scheduler,
    random,
    stats,
  );
  const connect = () => {
    link.dial({});
    wire.sink.onOpen();
  };
  return { clock, link, wire: () => wire, got, events, stats, connect };
}

const at = (c: Partial<LinkCondition>): LinkCondition => ({ since: 0, ...c });

test('no condition: frames pass straight through, both ways', () => {
  const s = setup();
  s.connect();
  assert.deepEqual(s.events, ['open@0']);
  assert.equal(s.link.send('a'), true);
  s.wire().sink.onFrame('b');
  assert.deepEqual(s.wire().sent, [{ t: 0, text: 'a' }]);
  assert.deepEqual(s.got, [{ t: 0, text: 'b' }]);
  assert.equal(s.stats.framesDelayed, 0);
});

test('latency and jitter delay each frame one way, in order; the handshake pays three round trips', () => {
  let r = 0;
  const seq = [1, 0, 0.5]; // jitter +20, -20, 0
  const s = setup(() => seq[r++ % seq.length]!);
  s.link.impair(at({ latencyMs: 100, jitterMs: 20 }));
  s.link.dial({});
  s.wire().sink.onOpen();
  assert.deepEqual(s.events, [], 'not open before 3 RTT');
  s.clock.advance(599);
  assert.deepEqual(s.events, []);
  s.clock.advance(1);
  assert.deepEqual(s.events, ['open@600']);
  s.link.send('first'); // +120 -> 720
  s.link.send('second'); // +80 -> 680, but not before the first: 720
  s.link.send('third'); // +100 -> 700 -> 720
  s.clock.advance(119);
  assert.equal(s.wire().sent.length, 0);
  s.clock.advance(1);
  assert.deepEqual(
    s.wire().sent.map((x) => `${x.text}@${x.t}`),
    ['first@720', 'second@720', 'third@720'],
  );
  s.wire().sink.onFrame('down'); // jitter +20 -> 120 later
  s.clock.advance(200);
  assert.deepEqual(s.got, [{ t: 840, text: 'down' }]);
});

test('a rate cap: a frame leaves when the ones before it have, at bytes x 8 / rate', () => {
  const s = setup();
  s.connect();
  s.link.impair(at({ rateBps: 8000 })); // 1 byte per ms
  s.link.send('x'.repeat(500));
  s.link.send('y'.repeat(500));
  s.clock.advance(2000);
  assert.deepEqual(
    s.wire().sent.map((x) => x.t),
    [500, 1000],
  );
});

test('loss delays a frame by TCP resends (200 ms, doubling), never drops it', () => {
  const draws = [0.01, 0.01, 0.9]; // lost, lost again, then through: 200 + 400
  let i = 0;
  const s = setup(() => draws[i++] ?? 0.9);
  s.connect();
  s.link.impair(at({ loss: 0.1 }));
  s.link.send('p');
  s.clock.advance(599);
  assert.equal(s.wire().sent.length, 0);
  s.clock.advance(1);
  assert.deepEqual(s.wire().sent, [{ t: 600, text: 'p' }]);
});

test("a cut of edge to cloud: the node's frames are lost, the cloud's arrive; its close goes through; a dial fails after the handshake timeout", () => {
  const s = setup();
  s.connect();
  s.link.impair(at({ block: 'out' }));
  assert.equal(s.link.send('lease'), true, 'the socket takes it');
  s.wire().sink.onFrame('pod');
  assert.equal(s.wire().sent.length, 0);
  assert.deepEqual(
    s.got.map((g) => g.text),
    ['pod'],
  );
  assert.equal(s.stats.framesDropped, 1);
  s.wire().sink.onClose('closed 1006');
  assert.deepEqual(s.events, ['open@0', 'close@0:closed 1006']);
  s.link.dial({ handshakeTimeoutMs: 30_000 });
  assert.equal(s.wire().dials, 1, 'no real dial while cut');
  s.clock.advance(30_000);
  assert.equal(s.events.at(-1), 'close@30000:handshake timed out (the link is cut)');
  s.link.impair(undefined);
  s.link.dial({});
  assert.equal(s.wire().dials, 2, 'healed: a real dial');
});

test("a cut of cloud to edge: the cloud's frames and its close are held off the node until the cut heals", () => {
  const s = setup();
  s.connect();
  s.link.impair(at({ block: 'in' }));
  s.wire().sink.onFrame('pod');
  assert.equal(s.got.length, 0);
  s.link.send('keepalive');
  assert.equal(s.wire().sent.length, 1, 'edge to cloud still flows');
  s.wire().sink.onClose('closed 1000');
  assert.deepEqual(s.events, ['open@0'], 'the node does not learn of the close');
  s.clock.advance(5000);
  s.link.impair(undefined);
  assert.deepEqual(s.events, ['open@0', 'close@5000:closed 1000']);
});

test('flapping: both ways down the first downMs of every everyMs', () => {
  const s = setup();
  s.connect();
  s.link.impair(at({ flap: { downMs: 1000, everyMs: 5000 } }));
  s.link.send('lost');
  s.clock.advance(1000);
  s.link.send('through');
  s.clock.advance(4000); // t = 5000: down again
  s.link.send('lost too');
  assert.deepEqual(
    s.wire().sent.map((x) => x.text),
    ['through'],
  );
  assert.equal(s.stats.framesDropped, 2);
});

test('close ends the link: queued frames are dropped, no timer fires into a closed link', () => {
  const s = setup();
  s.connect();
  s.link.impair(at({ latencyMs: 50 }));
  s.link.send('late');
  s.wire().sink.onFrame('late too');
  s.link.close();
  s.clock.advance(1000);
  assert.equal(s.wire().sent.length, 0);
  assert.equal(s.got.length, 0);
  assert.ok(s.wire().closed);
});

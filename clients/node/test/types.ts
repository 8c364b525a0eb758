// Compiled (tsc --noEmit -p test) by the test script: the declarations of
// index.d.ts fit the README's examples.
import { Client, Message, StreamRecord, TimeoutError, Tx } from '..';

async function main(): Promise<void> {
  const client = new Client({ hosts: ['db1:5432', 'db2:5432'], database: 'app', poolSize: 4 });
  await client.connect();
  await client.createQueue('orders', { visibilityTimeout: 30, maxReceives: 5, deadLetterQueue: 'orders_dlq' });
  const id: string = await client.send('orders', { order: 1 }, { headers: { kind: 'new' }, dedupKey: 'o-1' });
  await client.send('images', Buffer.from([1, 2]), { contentType: 'image/png' });
  await client.send('notes', 'plain text');
  const ids: string[] = await client.sendBatch('orders', [{ a: 1 }, { a: 2 }], { priority: 1 });
  const messages: Message[] = await client.read('orders', { qty: 10, visibilityTimeout: 60, wait: 5 });
  for (const m of messages) {
    const p: Buffer | null = m.payload;
    const ct: string | null = m.contentType;
    console.log(m.msgId, m.body, p, ct, m.headers, m.readCt, m.sentBy, m.correlationId, m.expiresAt);
    await client.ack('orders', m.msgId);
  }
  const worker = client.work('orders', async (m: Message) => { console.log(m.body); }, { concurrency: 8 });
  client.work('orders', async (m, tx?: Tx) => { await tx!.query('INSERT INTO t VALUES ($1)', [m.body.n]); },
    { transaction: true, batchSize: 10 });
  client.on('failure', (m, err, delay: number) => console.log(m.msgId, err, delay));
  client.serve('rpc', async (req) => ({ echo: req.body }));
  try {
    const reply: Message = await client.request('rpc', { q: 1 }, { timeout: 5 });
    console.log(reply.body);
  } catch (err) {
    if (err instanceof TimeoutError) console.log('no reply');
  }
  await client.createStream('clicks', { partitions: 4 });
  await client.append('clicks', { page: '/' }, { key: 'user-1' });
  await client.createConsumerGroup('clicks', 'counters', { start: 'earliest' });
  const consumer = client.consume('clicks', 'counters', async (r: StreamRecord, tx: Tx) => {
    await tx.query('UPDATE counts SET n = n + 1 WHERE page = $1', [r.body.page]);
  });
  const producer = client.producer('orders', { maxBatch: 200 });
  const confirms: Promise<string>[] = [];
  for (let i = 0; i < 1000; i++) {
    confirms.push(producer.send({ i }));
    if (!producer.writable) await producer.drained();
  }
  await Promise.all(confirms);
  console.log(id, ids, client.counters.acked);
  await worker.stop();
  await consumer.stop();
  await client.end();
}

void main;

// An old client, as Debian ships it (segmentio kafka-go 0.2.1, golang-github-segmentio-kafka-go-dev), driven by
// tests/integration/test_old_clients.py: a Writer produces -count messages (Produce v2, message format v1), a
// partition Reader reads them back (Fetch v2, down-converted to magic 1). Results are JSON lines on stdout.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

func emit(kind string, value interface{}) {
	line, _ := json.Marshal(map[string]interface{}{"kind": kind, "value": value})
	fmt.Println(string(line))
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
	os.Exit(1)
}

func main() {
	broker := flag.String("broker", "127.0.0.1:9092", "bootstrap broker")
	topic := flag.String("topic", "", "topic")
	count := flag.Int("count", 5, "messages")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	writer := kafka.NewWriter(kafka.WriterConfig{
		Brokers: []string{*broker}, Topic: *topic, Balancer: &kafka.LeastBytes{}, BatchTimeout: 10 * time.Millisecond,
	})
	var messages []kafka.Message
	for i := 0; i < *count; i++ {
		messages = append(messages, kafka.Message{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))})
	}
	if err := writer.WriteMessages(ctx, messages...); err != nil {
		fail("write", err)
	}
	writer.Close()
	emit("written", *count)

	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{*broker}, Topic: *topic, Partition: 0, MinBytes: 1, MaxBytes: 1 << 20,
		MaxWait: 200 * time.Millisecond,
	})
	defer reader.Close()
	var values []string
	for len(values) < *count {
		m, err := reader.ReadMessage(ctx)
		if err != nil {
			fail("read", err)
		}
		values = append(values, fmt.Sprintf("%d:%s=%s", m.Offset, m.Key, m.Value))
	}
	emit("read", values)
}

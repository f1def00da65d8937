// An old client, as Debian ships it (sarama 1.22, golang-github-shopify-sarama-dev), driven by
// tests/integration/test_old_clients.py. At the given -version it produces -count messages with a SyncProducer,
// reads them back from the oldest offset, asks ListOffsets for the newest and oldest offsets, commits -commit
// for -group through the offset manager (OffsetCommit v1 below Kafka 0.9 semantics, as sarama sends it with no
// retention) and, from 0.10.0.0, creates, lists and deletes a topic with the ClusterAdmin. Every result is one
// JSON line on stdout; any failure exits non-zero with the error on stderr.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/Shopify/sarama"
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
	topic := flag.String("topic", "", "topic to produce to and read")
	version := flag.String("version", "", "Kafka version to speak (empty: sarama's default)")
	count := flag.Int("count", 5, "messages to produce")
	group := flag.String("group", "", "group to commit for")
	commit := flag.Int64("commit", 3, "offset to commit")
	compression := flag.String("compression", "none", "none or gzip")
	admin := flag.String("admin-topic", "", "topic to create, list and delete with the ClusterAdmin")
	flag.Parse()

	config := sarama.NewConfig()
	if *version != "" {
		v, err := sarama.ParseKafkaVersion(*version)
		if err != nil {
			fail("version", err)
		}
		config.Version = v
	}
	emit("version", config.Version.String())
	config.ClientID = "odradek-old-sarama"
	config.Producer.Return.Successes = true
	config.Producer.RequiredAcks = sarama.WaitForAll
	if *compression == "gzip" {
		config.Producer.Compression = sarama.CompressionGZIP
	}
	config.Metadata.Retry.Max = 20
	config.Metadata.Retry.Backoff = 250 * time.Millisecond
	config.Consumer.Return.Errors = true
	brokers := []string{*broker}

	client, err := sarama.NewClient(brokers, config)
	if err != nil {
		fail("client", err)
	}
	defer client.Close()

	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		fail("producer", err)
	}
	var offsets []int64
	for i := 0; i < *count; i++ {
		_, offset, err := producer.SendMessage(&sarama.ProducerMessage{
			Topic: *topic, Partition: 0, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i)),
			Value: sarama.StringEncoder(fmt.Sprintf("v%d", i)),
		})
		if err != nil {
			fail("produce", err)
		}
		offsets = append(offsets, offset)
	}
	emit("produced", offsets)

	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		fail("consumer", err)
	}
	pc, err := consumer.ConsumePartition(*topic, 0, sarama.OffsetOldest)
	if err != nil {
		fail("consume", err)
	}
	var values []string
	deadline := time.After(30 * time.Second)
	for len(values) < *count {
		select {
		case m := <-pc.Messages():
			values = append(values, fmt.Sprintf("%d:%s=%s", m.Offset, m.Key, m.Value))
		case e := <-pc.Errors():
			fail("consume", e)
		case <-deadline:
			fail("consume", fmt.Errorf("timed out with %d of %d messages", len(values), *count))
		}
	}
	pc.Close()
	emit("consumed", values)

	newest, err := client.GetOffset(*topic, 0, sarama.OffsetNewest)
	if err != nil {
		fail("list offsets newest", err)
	}
	oldest, err := client.GetOffset(*topic, 0, sarama.OffsetOldest)
	if err != nil {
		fail("list offsets oldest", err)
	}
	emit("offsets", map[string]int64{"newest": newest, "oldest": oldest})

	if *group != "" {
		manager, err := sarama.NewOffsetManagerFromClient(*group, client)
		if err != nil {
			fail("offset manager", err)
		}
		pom, err := manager.ManagePartition(*topic, 0)
		if err != nil {
			fail("manage partition", err)
		}
		pom.MarkOffset(*commit, "sarama")
		if err := pom.Close(); err != nil {
			fail("partition offset manager close", err)
		}
		if err := manager.Close(); err != nil { // flushes the marked offset with an OffsetCommit
			fail("offset manager close", err)
		}
		emit("committed", *commit)
	}

	if *admin != "" {
		ca, err := sarama.NewClusterAdmin(brokers, config)
		if err != nil {
			fail("cluster admin", err)
		}
		if err := ca.CreateTopic(*admin, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
			fail("create topic", err)
		}
		topics, err := ca.ListTopics()
		if err != nil {
			fail("list topics", err)
		}
		detail, ok := topics[*admin]
		emit("listed", map[string]interface{}{"found": ok, "partitions": detail.NumPartitions})
		if err := ca.DeleteTopic(*admin); err != nil {
			fail("delete topic", err)
		}
		emit("deleted", *admin)
		ca.Close()
	}
}

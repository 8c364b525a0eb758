'use strict';
const { Client, Transaction } = require('./client');
const { MqError, TimeoutError, ClosedError, TEXT_TYPE, BYTES_TYPE, backoff } = require('./util');

module.exports = { Client, Transaction, MqError, TimeoutError, ClosedError, TEXT_TYPE, BYTES_TYPE, backoff };

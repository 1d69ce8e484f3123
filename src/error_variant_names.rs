// The variants of stomp-codec's four error enums, by name, in declaration order: the one list,
// included by the library's unit test `error_variants` (src/error_variants.rs), whose
// `variant_names!` turns each entry into a `match` without a wildcard arm (adding a variant stops
// the test build until it is listed here), and by stomp-testkit's `variants` module, whose
// `variant_names!` turns it into the `*_VARIANTS` lists that tests/error_completeness.rs must
// cover. Not a module of the library.

variant_names!(
    DecodeError,
    DECODE_ERROR_VARIANTS,
    decode_error_variant,
    [
        UnknownCommand,
        MissingColon,
        EmptyHeaderName,
        BadEscape,
        InvalidContentLength,
        ConflictingContentLength,
        MissingNul,
        BodyNotAllowed,
        StrayCarriageReturn,
        UnexpectedNul,
        LimitExceeded,
        InvalidUtf8,
    ]
);

variant_names!(
    EncodeError,
    ENCODE_ERROR_VARIANTS,
    encode_error_variant,
    [
        InvalidCommand,
        Unrepresentable,
        NulInBody,
        ContentLengthMismatch,
        BodyNotAllowed,
    ]
);

variant_names!(
    ConnectionError,
    CONNECTION_ERROR_VARIANTS,
    connection_error_variant,
    [
        Decode,
        Rule,
        UnexpectedFrame,
        NoCommonVersion,
        VersionNotOffered,
        MissingHost,
        InputBeforeConnected,
        InputNotPolled,
        TooManySubscriptions,
        TooManyTransactions,
        SlowConsumer,
        ConnectTimeout,
        HeartbeatTimeout,
    ]
);

variant_names!(
    UsageError,
    USAGE_ERROR_VARIANTS,
    usage_error_variant,
    [
        NotConnected,
        AlreadyConnected,
        AfterDisconnect,
        Closed,
        ReceiptOnConnect,
        WrongRole,
        Rule,
        OutputFull,
        CannotAcknowledge,
        DuplicateReceipt,
        NoVersionOffered,
        NotAwaitingConnect,
        Encode,
    ]
);

variant_names!(
    RuleViolation,
    RULE_VIOLATION_VARIANTS,
    rule_violation_variant,
    [
        MissingHeader,
        NotInVersion,
        InvalidAckMode,
        DuplicateSubscription,
        UnknownSubscription,
        DuplicateTransaction,
        UnknownTransaction,
        InvalidHeartbeat,
    ]
);

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
        UnexpectedFrame,
        NoCommonVersion,
        VersionNotOffered,
        InvalidHeartbeat,
        MissingHeader,
        InvalidAckMode,
        DuplicateSubscription,
        UnknownSubscription,
        DuplicateTransaction,
        UnknownTransaction,
        MissingHost,
        InputBeforeConnected,
        InputNotPolled,
        TooManySubscriptions,
        TooManyTransactions,
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
        NotInVersion,
        MissingHeader,
        CannotAcknowledge,
        InvalidAckMode,
        DuplicateSubscription,
        UnknownSubscription,
        DuplicateTransaction,
        UnknownTransaction,
        DuplicateReceipt,
        InvalidHeartbeat,
        NoVersionOffered,
        NotAwaitingConnect,
        Encode,
    ]
);

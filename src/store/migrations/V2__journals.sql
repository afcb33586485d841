-- Campaigns' journals kept in the store (issue 13): the same records the embedded sled journal
-- keeps, as rows, so that a campaign killed on one host resumes on another. One row per key of
-- one of the journal's trees; keys sort bytewise, as sled's do, so the journal's scans by prefix
-- read the same order from either.
CREATE TABLE journal_records (
    campaign text  NOT NULL,
    tree     text  NOT NULL,
    key      bytea NOT NULL,
    value    bytea NOT NULL,
    PRIMARY KEY (campaign, tree, key)
);

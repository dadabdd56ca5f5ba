-- The grants that roles hold on functions kept from 1.5.0 are theirs, not the extension's.
-- The REVOKE and GRANT statements above recorded each function's whole ACL, those grants
-- included, as the extension's initial privileges (pg_init_privs), which pg_dump leaves
-- out. Only the owner's and PUBLIC's entries are kept there, as CREATE EXTENSION records
-- them, so that a dump of the updated database gives those roles their grants back.
UPDATE pg_catalog.pg_init_privs AS i
SET initprivs = ARRAY(
    SELECT pg_catalog.makeaclitem(a.grantee, a.grantor, a.privilege_type, a.is_grantable)
    FROM pg_catalog.aclexplode(i.initprivs) AS a
    WHERE a.grantee IN (0, p.proowner)
)
FROM pg_catalog.pg_proc AS p, pg_catalog.pg_depend AS member
WHERE i.classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass
    AND i.privtype = 'e'
    AND i.objoid = p.oid
    AND member.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
    AND member.objid = p.oid
    AND member.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
    AND member.refobjid = (
        SELECT e.oid FROM pg_catalog.pg_extension AS e WHERE e.extname = 'pg_jobmon'
    )
    AND member.deptype = 'e';

# unit_sdk compiles its test plugins in directly and reaches them through descriptor functions,
# so it needs only the SDK headers.
target_link_libraries(unit_${area} PRIVATE vigil_sdk)
